import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// The two clocks the agent needs: a monotonic one for timeouts and rates,
/// and the wall clock for event-record timestamps.
public enum Clock {
    /// Nanoseconds since an arbitrary fixed point; never goes backwards.
    /// The corresponding C call is clock_gettime(CLOCK_MONOTONIC).
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The wall-clock time, microsecond resolution.
    /// The corresponding C call is clock_gettime(CLOCK_REALTIME).
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), microseconds: Int32(ts.tv_nsec / 1000))
    }

    /// The monotonic clock as PipeCore's `Instant`.
    public static func monotonic() -> Instant { Instant(nanoseconds: monotonicNanoseconds()) }

    /// Sleeps the calling thread for `duration`, or less when a signal
    /// handler runs meanwhile: returns the time that was left then (zero
    /// once the whole time has passed), so the caller decides whether that
    /// signal ends the wait. The corresponding C call is nanosleep(2).
    public static func sleep(for duration: Duration) -> Duration {
        guard duration > .zero else { return .zero }
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        guard nanosleep(&request, &remaining) != 0, Glibc.errno == EINTR else { return .zero }
        return .seconds(remaining.tv_sec) + .nanoseconds(remaining.tv_nsec)
    }

    /// The time of day in the local time zone at `secondsSinceEpoch`.
    /// The corresponding C call is localtime_r(3).
    public static func localTime(secondsSinceEpoch: Int64) -> LocalTime {
        var seconds = time_t(secondsSinceEpoch)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return LocalTime(hour: 0, minute: 0, second: 0) }
        return LocalTime(hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec))
    }
}

/// A time of day on the local wall clock (`Clock.localTime`).
public struct LocalTime: Sendable, Hashable {
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(hour: Int, minute: Int, second: Int) {
        self.hour = hour
        self.minute = minute
        self.second = second
    }
}
