// Concurrency limits: a privileged command lent to many users must not let
// one user, or one instance, take the machine. Checked before a run starts,
// counted while it runs.

/// The limits a new run is checked against. A limit is a plain maximum
/// (0 refuses every run); `nil` instance limits mean the instance adds none
/// of its own.
public struct AdmissionLimits: Sendable, Equatable {
    /// Runs of any instance at once, agent-wide.
    public var maxRunning: Int
    /// Runs of any instance at once by one user.
    public var maxPerUser: Int
    /// Runs of this instance at once.
    public var instanceMaxRunning: Int?
    /// Runs of this instance at once by one user.
    public var instanceMaxPerUser: Int?
    /// Runs of `maxRunning` kept for privileged clients (root and the
    /// reserved group): others are refused once `maxRunning - reserved`
    /// runs are going.
    public var reserved: Int

    public init(
        maxRunning: Int, maxPerUser: Int, instanceMaxRunning: Int? = nil, instanceMaxPerUser: Int? = nil,
        reserved: Int = 0
    ) {
        self.maxRunning = maxRunning
        self.maxPerUser = maxPerUser
        self.instanceMaxRunning = instanceMaxRunning
        self.instanceMaxPerUser = instanceMaxPerUser
        self.reserved = reserved
    }
}

/// Why a run may not start now. Its description is what the client is told
/// and what the audit log records.
public struct AdmissionRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Which limit was reached. `running` is the count when checked; it can
    /// exceed `limit` after a reload lowered the limit.
    public enum Reason: Sendable, Equatable {
        case agent(running: Int, limit: Int)
        /// The unreserved runs are all in use; the rest are kept for root.
        case reservedForRoot(running: Int, limit: Int, reserved: Int)
        case user(uid: UInt32, running: Int, limit: Int)
        case instance(instance: String, running: Int, limit: Int)
        case userOfInstance(uid: UInt32, instance: String, running: Int, limit: Int)
    }

    public var reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .agent(let running, let limit):
            return "too many commands running: \(running) of \(limit) allowed"
        case .reservedForRoot(let running, let limit, let reserved):
            return "too many commands running: \(running) of \(limit), and the last \(reserved) are kept for root"
        case .user(let uid, let running, let limit):
            return "user \(uid) already runs \(Self.count(running, "command", "commands")) (limit \(limit))"
        case .instance(let instance, let running, let limit):
            return "instance \(instance) already has \(Self.count(running, "run", "runs")) (limit \(limit))"
        case .userOfInstance(let uid, let instance, let running, let limit):
            return
                "user \(uid) already runs \(instance) \(Self.count(running, "time", "times")) (limit \(limit) per user)"
        }
    }

    private static func count(_ number: Int, _ singular: String, _ plural: String) -> String {
        "\(number) \(number == 1 ? singular : plural)"
    }
}

/// Counts of the runs in progress, by instance and by user, and the check
/// that decides whether one more may start.
public struct Admission: Sendable {
    /// Pairs a user with an instance for the per-user-per-instance count.
    private struct UserInstance: Hashable, Sendable {
        var uid: UInt32
        var instance: String
    }

    public private(set) var running = 0
    private var byInstance: [String: Int] = [:]
    private var byUser: [UInt32: Int] = [:]
    private var byUserInstance: [UserInstance: Int] = [:]

    public init() {}

    public func running(instance: String) -> Int { byInstance[instance, default: 0] }

    public func running(uid: UInt32) -> Int { byUser[uid, default: 0] }

    /// Runs of `instance` by user `uid` now.
    public func running(instance: String, uid: UInt32) -> Int {
        byUserInstance[UserInstance(uid: uid, instance: instance), default: 0]
    }

    /// nil when user `uid` may start a run of `instance` now; otherwise the
    /// first limit reached, broadest first, so the message names the limit
    /// that would still refuse after the narrower ones were raised.
    public func check(instance: String, uid: UInt32, limits: AdmissionLimits, privileged: Bool = false)
        -> AdmissionRefusal?
    {
        if running >= limits.maxRunning {
            return AdmissionRefusal(.agent(running: running, limit: limits.maxRunning))
        }
        if !privileged && running >= limits.maxRunning - limits.reserved {
            return AdmissionRefusal(
                .reservedForRoot(running: running, limit: limits.maxRunning, reserved: limits.reserved))
        }
        let user = running(uid: uid)
        if user >= limits.maxPerUser {
            return AdmissionRefusal(.user(uid: uid, running: user, limit: limits.maxPerUser))
        }
        if let limit = limits.instanceMaxRunning {
            let count = running(instance: instance)
            if count >= limit {
                return AdmissionRefusal(.instance(instance: instance, running: count, limit: limit))
            }
        }
        if let limit = limits.instanceMaxPerUser {
            let count = running(instance: instance, uid: uid)
            if count >= limit {
                return AdmissionRefusal(.userOfInstance(uid: uid, instance: instance, running: count, limit: limit))
            }
        }
        return nil
    }

    /// Counts a run that has started. Call only after `check` returned nil
    /// (counting does not enforce limits).
    public mutating func started(instance: String, uid: UInt32) {
        running += 1
        byInstance[instance, default: 0] += 1
        byUser[uid, default: 0] += 1
        byUserInstance[UserInstance(uid: uid, instance: instance), default: 0] += 1
    }

    /// Counts a run that has ended. Every `started` must be matched by
    /// exactly one `ended` with the same arguments; a mismatch is a bug in
    /// the caller and crashes rather than let the counts drift.
    public mutating func ended(instance: String, uid: UInt32) {
        let key = UserInstance(uid: uid, instance: instance)
        guard byUserInstance[key, default: 0] > 0 else {
            preconditionFailure("ended(instance: \(instance), uid: \(uid)) without a matching started")
        }
        running -= 1
        Self.decrement(&byInstance, instance)
        Self.decrement(&byUser, uid)
        Self.decrement(&byUserInstance, key)
    }

    /// Removes keys that reach zero, so the tables stay as small as the set
    /// of users and instances running now.
    private static func decrement<Key: Hashable>(_ table: inout [Key: Int], _ key: Key) {
        let value = table[key, default: 0] - 1
        table[key] = value > 0 ? value : nil
    }
}
