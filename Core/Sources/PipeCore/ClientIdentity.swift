/// How pmcd learnt who a client is (the attributes it passed the agent,
/// PMDA_ATTR_* in pmda.h; set by libpcp's auxserver.c and secureserver.c).
public enum Authentication: Sendable, Equatable {
    /// No credentials: a TCP connection that did not authenticate.
    case none
    /// pmcd's unix socket: the kernel's peer credentials (uid, gid, pid).
    case unixSocket(pid: Int32?)
    /// SASL: pmcd checked a password and mapped the user name to a local
    /// account (PMDA_ATTR_USERNAME is only ever set this way).
    case sasl(user: String)

    public var isSASL: Bool {
        if case .sasl = self { return true }
        return false
    }

    /// For the audit log: `unix`, `sasl`, `none`.
    public var name: String {
        switch self {
        case .none: return "none"
        case .unixSocket: return "unix"
        case .sasl: return "sasl"
        }
    }
}

/// Who is asking, as pmcd's credentials for the client's connection say.
/// A remote or otherwise unauthenticated connection has no uid.
public struct ClientIdentity: Sendable, Equatable {
    /// nil: no credentials.
    public var uid: UInt32?
    /// The primary group.
    public var gid: UInt32?
    public var userName: String?
    /// Names of all the user's groups, primary and supplementary.
    public var groupNames: [String]
    /// IDs of the supplementary groups (the primary one may be included).
    public var groupIDs: [UInt32]
    public var authentication: Authentication

    public init(
        uid: UInt32? = nil, gid: UInt32? = nil, userName: String? = nil,
        groupNames: [String] = [], groupIDs: [UInt32] = [], authentication: Authentication = .unixSocket(pid: nil)
    ) {
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupNames = groupNames
        self.groupIDs = groupIDs
        self.authentication = uid == nil ? .none : authentication
    }

    /// `user bob (uid 1000)`, or `uid 1000` when the name is unknown.
    public var summary: String {
        let id = uid.map(String.init) ?? "?"
        guard let userName else { return "uid \(id)" }
        return "user \(userName) (uid \(id))"
    }
}

/// The outcome of an access check and why, fit for the audit log and the client.
public struct AccessDecision: Sendable, Equatable {
    public let allowed: Bool
    public let reason: String
    /// The rule that decided, if one did.
    public let rule: AccessRule?

    public init(allowed: Bool, reason: String, rule: AccessRule?) {
        self.allowed = allowed
        self.reason = reason
        self.rule = rule
    }
}
