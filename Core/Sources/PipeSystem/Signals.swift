import CPipeSpawn
import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// A signalfd: the agent's signals arrive as readable data in its poll loop
/// instead of interrupting it. Create it on the main thread before any other
/// thread starts: a process-directed signal goes to any thread that does not
/// block it, and a thread that does not block SIGCHLD silently discards it.
public struct SignalFD: Sendable {
    /// What the agent listens to: children ending, reload, shutdown.
    public static let agentSignals: [Int32] = [SIGCHLD, SIGHUP, SIGTERM, SIGINT]

    public let descriptor: FileDescriptor

    /// Blocks `signals` in the calling thread and opens a nonblocking,
    /// close-on-exec signalfd for them.
    /// The corresponding C calls are pthread_sigmask(2) and signalfd(2).
    public init(signals: [Int32] = SignalFD.agentSignals) throws(SystemError) {
        let fd = signals.withUnsafeBufferPointer { pipe_signalfd_open($0.baseAddress, $0.count) }
        guard fd >= 0 else {
            throw lastError("signalfd([\(signals.map(String.init).joined(separator: ","))])")
        }
        descriptor = FileDescriptor(rawValue: fd)
    }

    /// Signals received since the last drain, each at most once, in order of
    /// first arrival. Standard signals do not queue: several SIGCHLD may
    /// arrive as one, so the caller reaps with `Reaper.reapAll`.
    /// The corresponding C call is read(2) of signalfd_siginfo records.
    public func drain() -> [Int32] {
        var buffer = [Int32](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBufferPointer {
            pipe_signalfd_drain(descriptor.rawValue, $0.baseAddress, $0.count)
        }
        var seen: [Int32] = []
        for signal in buffer.prefix(count) where !seen.contains(signal) { seen.append(signal) }
        return seen
    }

    /// Closes the signalfd (the signals stay blocked).
    public func close() { descriptor.close() }
}

/// Process-wide signal settings the agent needs at start-up.
public enum Signals {
    /// Ignores `signal` (the agent ignores SIGPIPE: a client or command going
    /// away must be an EPIPE, not death). Spawned commands get it back at default.
    /// The corresponding C call is sigaction(2) with SIG_IGN.
    public static func ignore(_ signal: Int32) throws(SystemError) {
        _ = try retryingEINTR("sigaction(\(signal), SIG_IGN)") { pipe_signal_disposition(signal, 1) }
    }

    /// Ignores `signal`. The corresponding C call is sigaction(2) with SIG_IGN.
    public static func ignore(_ signal: Signal) throws(SystemError) {
        try ignore(signal.rawValue)
    }

    /// Blocks `signals` in the calling thread.
    /// The corresponding C call is pthread_sigmask(2) with SIG_BLOCK.
    public static func block(_ signals: [Int32]) throws(SystemError) {
        _ = try retryingEINTR("sigprocmask(SIG_BLOCK)") {
            signals.withUnsafeBufferPointer { pipe_sigmask(0, $0.baseAddress, $0.count) }
        }
    }

    /// Unblocks `signals` in the calling thread.
    /// The corresponding C call is pthread_sigmask(2) with SIG_UNBLOCK.
    public static func unblock(_ signals: [Int32]) throws(SystemError) {
        _ = try retryingEINTR("sigprocmask(SIG_UNBLOCK)") {
            signals.withUnsafeBufferPointer { pipe_sigmask(1, $0.baseAddress, $0.count) }
        }
    }
}

/// poll(2) over a handful of descriptors, rebuilt by the caller each loop
/// iteration (the set changes as commands start and end; rebuilding is
/// cheaper than bookkeeping at these sizes).
public struct PollSet {
    private var entries: [pollfd] = []
    private var tokens: [Int] = []

    public init() {}

    /// Watches `fd` for readability; POLLHUP and POLLERR count as ready so
    /// the caller's read sees the end of file or the error.
    public mutating func add(_ fd: FileDescriptor, token: Int) {
        entries.append(pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0))
        tokens.append(token)
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and returns the tokens
    /// of ready descriptors, in the order added. An interrupted wait (EINTR)
    /// returns no tokens: the caller loops anyway.
    /// The corresponding C call is poll(2).
    public func wait(timeoutMilliseconds: Int32) throws(SystemError) -> [Int] {
        var polled = entries
        let count = polled.withUnsafeMutableBufferPointer {
            poll($0.baseAddress, nfds_t($0.count), timeoutMilliseconds)
        }
        if count < 0 {
            if Glibc.errno == EINTR { return [] }
            throw lastError("poll(\(entries.count) descriptors)")
        }
        let ready = Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL)
        return zip(polled, tokens).compactMap { entry, token in entry.revents & ready != 0 ? token : nil }
    }
}

extension Signals {
    /// Blocks every signal in the calling thread: for worker threads, so
    /// that the agent's signals always reach its main thread's signalfd.
    /// The corresponding C call is pthread_sigmask(3) with a full set.
    public static func blockAll() throws(SystemError) {
        _ = try retryingEINTR("pthread_sigmask(SIG_BLOCK, all)") { pipe_block_all_signals() }
    }
}

/// An eventfd(2): a counter that one thread signals and another waits for,
/// or polls (the agent's loop watches `descriptor`).
public final class EventCounter: @unchecked Sendable {
    public let descriptor: FileDescriptor
    private let blocking: Bool

    /// `blocking`: `wait` sleeps until signalled (a worker thread);
    /// otherwise the caller polls `descriptor` and calls `drain`.
    /// The corresponding C call is eventfd(2).
    public init(blocking: Bool = false) throws(SystemError) {
        let fd = pipe_eventfd(blocking ? 0 : 1)
        guard fd >= 0 else { throw lastError("eventfd") }
        descriptor = FileDescriptor(rawValue: fd)
        self.blocking = blocking
    }

    deinit { descriptor.close() }

    /// Adds one. The corresponding C call is write(2).
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(descriptor.rawValue, $0.baseAddress, 8) }
    }

    /// Takes the count (0 if none and nonblocking).
    /// The corresponding C call is read(2).
    @discardableResult
    public func drain() -> UInt64 {
        var value: UInt64 = 0
        let count = withUnsafeMutableBytes(of: &value) { read(descriptor.rawValue, $0.baseAddress, 8) }
        return count == 8 ? value : 0
    }

    /// Sleeps until signalled (blocking counters), then takes the count.
    public func wait() -> UInt64 {
        while true {
            var value: UInt64 = 0
            let count = withUnsafeMutableBytes(of: &value) { read(descriptor.rawValue, $0.baseAddress, 8) }
            if count == 8 { return value }
            if count < 0 && errno == EINTR { continue }
            return 0
        }
    }
}
