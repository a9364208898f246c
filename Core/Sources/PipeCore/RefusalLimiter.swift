// Any local user, even one the rules allow nothing, can send stores as fast
// as pmcd takes them; each refusal was a log line with the request's
// parameters. The audit trail keeps the first few refusals of each user in
// full and counts the rest.

/// Decides which refusals are logged in full: per client uid, the first
/// `burst` of each `window`; the others are counted and reported as one line
/// when the window closes ("N more refusals for uid U in the last S").
public struct RefusalLimiter: Sendable {
    public let burst: Int
    public let window: Duration

    private struct Window: Sendable {
        var opened: Instant
        var logged: Int
        var suppressed: Int
    }

    /// Key: the client's uid, or nil for clients without credentials.
    private var windows: [UInt32?: Window] = [:]

    public init(burst: Int = 5, window: Duration = .seconds(10)) {
        self.burst = burst
        self.window = window
    }

    /// Whether this refusal of `uid`'s is logged in full; otherwise it is
    /// counted.
    public mutating func admit(uid: UInt32?, now: Instant) -> Bool {
        var current = windows[uid] ?? Window(opened: now, logged: 0, suppressed: 0)
        if now >= current.opened + window && current.suppressed == 0 {
            current = Window(opened: now, logged: 0, suppressed: 0)
        }
        defer { windows[uid] = current }
        if current.logged < burst {
            current.logged += 1
            return true
        }
        current.suppressed += 1
        return false
    }

    /// The windows that have closed with refusals left unlogged: one summary
    /// each (then they start afresh).
    public mutating func closed(now: Instant) -> [(uid: UInt32?, suppressed: Int, over: Duration)] {
        var summaries: [(uid: UInt32?, suppressed: Int, over: Duration)] = []
        for (uid, current) in windows where now >= current.opened + window {
            if current.suppressed > 0 { summaries.append((uid, current.suppressed, now.since(current.opened))) }
            windows[uid] = nil
        }
        return summaries.sorted { ($0.uid ?? .max) < ($1.uid ?? .max) }
    }

    /// When the next window with unlogged refusals closes.
    public var nextDeadline: Instant? {
        windows.values.filter { $0.suppressed > 0 }.map { $0.opened + window }.min()
    }
}
