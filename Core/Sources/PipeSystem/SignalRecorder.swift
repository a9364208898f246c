import CPipeSpawn
import PipeCore

/// Signals noted, not acted on, for a program whose main loop looks at them
/// between blocking calls (pmpipe) rather than reading a signalfd (the
/// agent). Process-wide: installing it replaces the signals' dispositions.
public enum SignalRecorder {
    /// Installs for each of `signals` a handler that only records the
    /// signal's number (the latest wins), without SA_RESTART, so that a
    /// blocking call the signal interrupts (a sleep, a write to a full pipe,
    /// libpcp's wait for pmcd) fails with EINTR and the caller's loop can
    /// look; then unblocks them in the calling thread, since a parent may
    /// have started us with them blocked.
    /// The corresponding C calls are sigaction(2) and pthread_sigmask(3).
    public static func record(_ signals: [Signal]) throws(SystemError) {
        let numbers = signals.map(\.rawValue)
        _ = try retryingEINTR("sigaction(\(signals.map(\.description).joined(separator: ", ")))") {
            numbers.withUnsafeBufferPointer { pipe_record_signals($0.baseAddress, $0.count) }
        }
    }

    /// The signal recorded last, or nil if none arrived.
    public static var recorded: Signal? {
        let number = pipe_recorded_signal()
        return number == 0 ? nil : Signal(rawValue: number)
    }
}
