import PipeCore
import PipeSystem

/// Ctrl-C, SIGTERM and SIGHUP end a run cleanly: they are only recorded
/// (PipeSystem's SignalRecorder); the main loop sees them between fetches
/// (sleeps, blocked writes and pmFetch's waits end with EINTR, as the
/// handler is installed without SA_RESTART), disconnects so the agent stops
/// the command, and exits 128+signal. SIGPIPE is ignored so a closed stdout
/// shows up as EPIPE from write(2).
public enum TerminationSignals {
    /// The signals that end a run.
    public static let ending: [Signal] = [.interrupt, .terminate, .hangup]

    /// Best effort: if the C library refused, a signal keeps its default
    /// action and still ends pmpipe, only less politely.
    public static func install() {
        try? Signals.ignore(.pipe)
        try? SignalRecorder.record(ending)
    }

    /// The signal caught so far, or nil.
    public static var caught: Signal? { SignalRecorder.recorded }

    /// Sleeps up to `microseconds`; returns early when a signal arrives.
    public static func sleep(microseconds: Int64) {
        var left = Duration.microseconds(microseconds)
        while left > .zero && caught == nil {
            left = Clock.sleep(for: left)
        }
    }
}
