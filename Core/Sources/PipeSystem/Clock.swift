#if canImport(Glibc)
import Glibc
#endif
import PipeCore

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

    /// Sleeps the calling thread (short waits during shutdown only).
    /// The corresponding C call is usleep(3).
    public static func sleep(milliseconds: Int) { usleep(useconds_t(milliseconds * 1000)) }
}
