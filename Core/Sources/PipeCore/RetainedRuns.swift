// Finished shared runs stay readable for their retain time, each with its
// whole buffer: without a bound, one user starting many short runs makes the
// agent hold every buffer until retain runs out (40 runs of `seq 1 600000`
// took it from 27 MB to 554 MB). So the finished runs kept are bounded by
// the [limits] that bound running ones: max_per_user per owner, max_running
// in all; past a bound the oldest finished run goes early.

/// A finished shared run the agent still keeps for its readers.
public struct RetainedRun: Sendable, Equatable {
    /// Its instance in the runs instance domain.
    public var instance: Int32
    /// Its starter's uid; nil for the agent's own autostart runs (counted
    /// together as one owner).
    public var owner: UInt32?
    public var finishedAt: Instant

    public init(instance: Int32, owner: UInt32?, finishedAt: Instant) {
        self.instance = instance
        self.owner = owner
        self.finishedAt = finishedAt
    }
}

/// A retained run to cull before its time, and which bound it passed.
public struct RetainedRunCull: Sendable, Equatable {
    public enum Bound: Sendable, Equatable {
        /// More than max_per_user finished runs of its owner.
        case perOwner(Int)
        /// More than max_running finished runs in all.
        case overall(Int)
    }

    public var run: RetainedRun
    public var bound: Bound

    public init(run: RetainedRun, bound: Bound) {
        self.run = run
        self.bound = bound
    }

    /// Why, for the log: "more than 8 finished runs of its owner are kept".
    public var reason: String {
        switch bound {
        case .perOwner(let limit): return "more than \(limit) finished runs of its owner are kept (max_per_user)"
        case .overall(let limit): return "more than \(limit) finished runs are kept in all (max_running)"
        }
    }
}

extension RetainedRun {
    /// The runs of `retained` to cull now, oldest first: per owner, the
    /// oldest beyond `maxPerOwner`; then, of those left, the oldest beyond
    /// `maxOverall`. Ties in finishing time go by instance number.
    public static func toCull(_ retained: [RetainedRun], maxPerOwner: Int, maxOverall: Int) -> [RetainedRunCull] {
        let oldestFirst = retained.sorted { ($0.finishedAt, $0.instance) < ($1.finishedAt, $1.instance) }
        var perOwner: [UInt32?: Int] = [:]
        for run in oldestFirst { perOwner[run.owner, default: 0] += 1 }
        var culls: [RetainedRunCull] = []
        var kept: [RetainedRun] = []
        for run in oldestFirst {
            if perOwner[run.owner, default: 0] > max(0, maxPerOwner) {
                perOwner[run.owner, default: 0] -= 1
                culls.append(RetainedRunCull(run: run, bound: .perOwner(maxPerOwner)))
            } else {
                kept.append(run)
            }
        }
        for run in kept.prefix(max(0, kept.count - max(0, maxOverall))) {
            culls.append(RetainedRunCull(run: run, bound: .overall(maxOverall)))
        }
        return culls.sorted { ($0.run.finishedAt, $0.run.instance) < ($1.run.finishedAt, $1.run.instance) }
    }
}
