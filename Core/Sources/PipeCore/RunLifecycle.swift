// A run's life as one state machine. The agent feeds it what happened (the
// main process exited, a pipe reached its end, the run's processes are all
// gone, a reason to stop, the clock) and carries out what it answers
// (signal every process, kill them all, close the pipes, finish the run).
// Every deadline lives here, so a run can neither outlive its limits nor
// end while a process it started is still running.

/// A point on the monotonic clock, in nanoseconds. The agent reads
/// CLOCK_MONOTONIC; tests make instants up.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public static func + (lhs: Instant, rhs: Duration) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &+ rhs.wholeNanoseconds)
    }

    /// The time from `earlier` to this instant (zero if `earlier` is later).
    public func since(_ earlier: Instant) -> Duration {
        .nanoseconds(Int64(clamping: nanoseconds >= earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0))
    }

    public var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// Whole nanoseconds, saturating at zero and at UInt64.max (durations
    /// here are configuration values: milliseconds to hours).
    public var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole &+ UInt64(attoseconds / 1_000_000_000)
    }
}

/// A Linux signal number (signal(7); the same on x86_64 and arm64 for the
/// signals named here). PipeSystem's tests check them against the C library.
public struct Signal: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let hangup = Signal(rawValue: 1)
    public static let interrupt = Signal(rawValue: 2)
    public static let kill = Signal(rawValue: 9)
    public static let pipe = Signal(rawValue: 13)
    public static let terminate = Signal(rawValue: 15)
    /// SIGCHLD (17 on x86_64 and arm64; not on every architecture).
    public static let childExited = Signal(rawValue: 17)

    public var description: String {
        switch self {
        case .hangup: return "SIGHUP"
        case .interrupt: return "SIGINT"
        case .kill: return "SIGKILL"
        case .pipe: return "SIGPIPE"
        case .terminate: return "SIGTERM"
        case .childExited: return "SIGCHLD"
        default: return "signal \(rawValue)"
        }
    }
}

/// Why the agent stops a run.
public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    case clientGone
    case timeLimit(Duration)
    /// The client has not fetched for this long while the command was
    /// blocked on a full queue.
    case idleLimit(Duration)
    case outputLimit(ByteCount)
    case agentShutdown
    /// A user asked (pipe.control.stop for a shared run, or nobody reads it).
    case requested(String)

    public var description: String {
        switch self {
        case .clientGone: return "client disconnected"
        case .timeLimit(let limit): return "time limit \(ConfigText.durationText(limit)) reached"
        case .idleLimit(let limit):
            return "nothing fetched for \(ConfigText.durationText(limit)) while the command waited on a full queue"
        case .outputLimit(let limit): return "output limit \(limit) reached"
        case .agentShutdown: return "agent shutting down"
        case .requested(let why): return why
        }
    }

    /// Nobody will read what is left, so the pipes close at once (a command
    /// still writing then gets SIGPIPE).
    var closesPipes: Bool {
        switch self {
        case .clientGone, .agentShutdown: return true
        default: return false
        }
    }
}

/// Where a run is in its life.
public enum RunPhase: Sendable, Equatable {
    /// The command's first process runs.
    case running
    /// The agent is stopping every process of the run (`TeardownStep`s).
    case stopping
    /// The first process has exited; the run waits for its pipes to end and
    /// for every other process of the run to be gone (stopping them, too).
    case draining
    /// Nothing of the run is left.
    case finished
}

/// One step of stopping a run's processes: signal them and give them time,
/// or kill them (in the manner of swift-subprocess's teardown sequences).
public enum TeardownStep: Sendable, Equatable {
    case send(Signal, allowedDurationToNextStep: Duration)
    case kill
}

/// What happened to a run.
public enum RunEvent: Sendable, Equatable {
    /// The run's first process was reaped.
    case mainExited(Termination)
    /// A pipe reached its end (or the agent stopped reading it).
    case streamClosed(StreamKind)
    /// No process of the run is left (cgroup empty).
    case processesGone
    /// The agent decided to stop the run.
    case stop(StopReason)
    /// The client fetched its records.
    case fetched
    /// The command's output queue became full (true) or has room again.
    case queueFull(Bool)
    /// Time passed: deadlines are checked.
    case tick
}

/// What the agent must do for a run.
public enum RunAction: Sendable, Equatable {
    /// Send this signal to every process of the run.
    case signalAll(Signal)
    /// SIGKILL every process of the run.
    case killAll
    /// Stop reading and close both pipes.
    case closePipes
    /// The run is over: hand out its end record, give back its slot.
    case finish
}

/// The state machine of one run. Pure: `advance` answers actions and never
/// reads a clock or calls the system.
public struct RunLifecycle: Sendable {
    /// Limits and grace periods from the command's settings.
    public struct Settings: Sendable, Equatable {
        public var timeLimit: Duration?
        /// Time between SIGTERM and SIGKILL.
        public var grace: Duration
        public var idleLimit: Duration?
        /// After SIGKILL, how long to wait for the pipes to end before
        /// closing them anyway (something outside the run's reach may hold
        /// them: only possible without cgroups).
        public var forceCloseAfter: Duration

        public init(
            timeLimit: Duration? = nil, grace: Duration = .seconds(3), idleLimit: Duration? = nil,
            forceCloseAfter: Duration = .seconds(1)
        ) {
            self.timeLimit = timeLimit
            self.grace = grace
            self.idleLimit = idleLimit
            self.forceCloseAfter = forceCloseAfter
        }
    }

    public let settings: Settings
    public private(set) var phase: RunPhase = .running
    /// How the first process ended, once reaped.
    public private(set) var termination: Termination?
    /// The first reason the agent had to stop the run.
    public private(set) var stopReason: StopReason?
    public private(set) var stdoutOpen = true
    public private(set) var stderrOpen = true
    /// No process of the run is left.
    public private(set) var processesGone = false

    private let startedAt: Instant
    private var lastFetch: Instant
    private var queueFullSince: Instant?
    /// The next teardown step and when it is due.
    private var pendingTeardown: (step: TeardownStep, at: Instant)?
    private var forceCloseAt: Instant?

    public init(settings: Settings, startedAt: Instant) {
        self.settings = settings
        self.startedAt = startedAt
        self.lastFetch = startedAt
    }

    /// The earliest instant at which `advance(now:event: .tick)` has
    /// something to do, or nil.
    public var nextDeadline: Instant? {
        guard phase != .finished else { return nil }
        var candidates: [Instant] = []
        if stopReason == nil, let limit = settings.timeLimit { candidates.append(startedAt + limit) }
        if let at = idleDeadline { candidates.append(at) }
        if let teardown = pendingTeardown { candidates.append(teardown.at) }
        if let at = forceCloseAt { candidates.append(at) }
        return candidates.min()
    }

    /// When a queue that nobody empties has been full for the idle limit:
    /// first the run is stopped; then, once nothing of it can write any
    /// more, what is left unread in its pipes is given up (otherwise a run
    /// whose client neither fetches nor leaves would never end).
    private var idleDeadline: Instant? {
        guard let limit = settings.idleLimit, let since = queueFullSince else { return nil }
        if stopReason != nil {
            guard processesGone || killed, stdoutOpen || stderrOpen else { return nil }
        }
        return max(since, lastFetch) + limit
    }

    /// Why the run ended, for pipe.endreason and the audit log.
    public var endReason: String {
        if let stopReason { return "stopped: \(stopReason)" }
        switch termination {
        case .exited?: return "exited"
        case .signaled(let signal)?: return "killed by signal \(signal)"
        case nil: return "running"
        }
    }

    /// Takes `event` at `now` and returns what the agent must do, in order.
    public mutating func advance(now: Instant, event: RunEvent) -> [RunAction] {
        guard phase != .finished else { return [] }
        var actions: [RunAction] = []
        switch event {
        case .mainExited(let how):
            termination = how
            if phase == .running { phase = .draining }
            // Whatever the command left behind belongs to the run and goes
            // with it (setsid'd daemons included).
            if !processesGone && pendingTeardown == nil && !killed { beginTeardown(now, into: &actions) }
        case .streamClosed(let stream):
            if stream == .stdout { stdoutOpen = false } else { stderrOpen = false }
        case .processesGone:
            processesGone = true
            pendingTeardown = nil
        case .stop(let reason):
            stop(reason, now, into: &actions)
        case .fetched:
            lastFetch = now
        case .queueFull(let full):
            queueFullSince = full ? (queueFullSince ?? now) : nil
        case .tick:
            if stopReason == nil, let limit = settings.timeLimit, now >= startedAt + limit {
                stop(.timeLimit(limit), now, into: &actions)
            }
            if let at = idleDeadline, now >= at, let limit = settings.idleLimit {
                if stopReason == nil {
                    stop(.idleLimit(limit), now, into: &actions)
                } else {
                    actions.append(.closePipes)
                    stdoutOpen = false
                    stderrOpen = false
                    queueFullSince = nil
                }
            }
            if let teardown = pendingTeardown, now >= teardown.at {
                pendingTeardown = nil
                run(teardown.step, now, into: &actions)
            }
            if let at = forceCloseAt, now >= at {
                // SIGKILL went out a while ago and something still holds a
                // pipe or still counts as the run's: only possible where the
                // run has no cgroup. Stop waiting.
                forceCloseAt = nil
                gaveUpWaiting = true
                if stdoutOpen || stderrOpen {
                    actions.append(.closePipes)
                    stdoutOpen = false
                    stderrOpen = false
                }
            }
        }
        if termination != nil && !stdoutOpen && !stderrOpen && (processesGone || gaveUpWaiting) {
            phase = .finished
            pendingTeardown = nil
            forceCloseAt = nil
            actions.append(.finish)
        }
        return actions
    }

    /// After SIGKILL and the force-close wait, a run whose processes the
    /// agent cannot see any more (no cgroup) ends anyway.
    private var gaveUpWaiting = false

    private mutating func stop(_ reason: StopReason, _ now: Instant, into actions: inout [RunAction]) {
        if stopReason == nil { stopReason = reason }
        if reason.closesPipes && (stdoutOpen || stderrOpen) {
            actions.append(.closePipes)
            stdoutOpen = false
            stderrOpen = false
        }
        if phase == .running { phase = .stopping }
        if !processesGone && pendingTeardown == nil && !killed { beginTeardown(now, into: &actions) }
    }

    private var killed = false

    private mutating func beginTeardown(_ now: Instant, into actions: inout [RunAction]) {
        run(.send(.terminate, allowedDurationToNextStep: settings.grace), now, into: &actions)
    }

    private mutating func run(_ step: TeardownStep, _ now: Instant, into actions: inout [RunAction]) {
        switch step {
        case .send(let signal, let allowed):
            actions.append(.signalAll(signal))
            if allowed > .zero {
                pendingTeardown = (.kill, now + allowed)
            } else {
                run(.kill, now, into: &actions)
            }
        case .kill:
            actions.append(.killAll)
            killed = true
            forceCloseAt = now + settings.forceCloseAfter
        }
    }
}
