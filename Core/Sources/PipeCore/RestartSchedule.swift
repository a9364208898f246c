// When the agent starts an autostart run again after it ended: a backoff of
// 1 s, doubling up to 60 s, back to 1 s once a run lasted a minute, as a
// service manager would (systemd's RestartSec with a steps-up limit).

/// The restart backoff of autostart runs, by command name.
///
/// The agent tells it what happened (`started`, `ended`, `failedToStart`,
/// `notAutostart`) and asks `mayStart` and `nextDue`. A command taken out
/// of autostart and put back later starts at once: its history is dropped
/// with `notAutostart`.
public struct RestartSchedule: Sendable {
    public static let firstBackoff = Duration.seconds(1)
    public static let longestBackoff = Duration.seconds(60)
    /// A run that lasted this long was healthy: the next backoff is the first.
    public static let healthyRun = Duration.seconds(60)

    private var backoff: [String: Duration] = [:]
    private var due: [String: Instant] = [:]

    public init() {}

    /// Whether `name` may be started now (nothing pending, or its backoff is over).
    public func mayStart(_ name: String, now: Instant) -> Bool {
        due[name].map { $0 <= now } ?? true
    }

    /// A run of `name` started: nothing is pending, the backoff is kept
    /// for the case it ends soon.
    public mutating func started(_ name: String) {
        due[name] = nil
    }

    /// A run of `name` that lasted `duration` ended at `now`: it is due again
    /// after the next backoff.
    public mutating func ended(_ name: String, after duration: Duration, now: Instant) {
        if duration >= Self.healthyRun { backoff[name] = nil }
        schedule(name, now: now)
    }

    /// Starting `name` failed at `now`: try again after the next backoff.
    public mutating func failedToStart(_ name: String, now: Instant) {
        schedule(name, now: now)
    }

    /// `name` is no longer configured to start automatically.
    public mutating func notAutostart(_ name: String) {
        backoff[name] = nil
        due[name] = nil
    }

    /// Whether some command's backoff is over at `now`.
    public func anyDue(now: Instant) -> Bool {
        due.values.contains { $0 <= now }
    }

    /// The earliest pending restart, for the agent's poll timeout.
    public var nextDue: Instant? { due.values.min() }

    private mutating func schedule(_ name: String, now: Instant) {
        let next = min(max((backoff[name] ?? .zero) * 2, Self.firstBackoff), Self.longestBackoff)
        backoff[name] = next
        due[name] = now + next
    }
}
