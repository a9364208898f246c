/// One `allow` or `disallow` line of the `[access]` section, for one
/// instance (a line that lists several instances gives several rules).
public struct AccessRule: Sendable, Equatable {
    /// What a matching rule says: the client may run the instance, may
    /// not (nor read others' shared runs of it), or may read the shared
    /// runs of it that others started.
    public enum Verdict: Sendable { case allow, disallow, read }

    /// Whom the rule is about.
    public enum Subject: Sendable, Equatable {
        /// A user name, or a decimal uid.
        case user(String)
        /// A group name, or a decimal gid.
        case group(String)
        /// `user *` or `group *`: every authenticated client.
        case anyUser
    }

    /// Which instances the rule is about.
    public enum Target: Sendable, Equatable {
        case instance(String)
        /// `*` or `all`.
        case all
    }

    public let verdict: Verdict
    public let subject: Subject
    public let target: Target
    public let location: SourceLocation

    public init(verdict: Verdict, subject: Subject, target: Target, location: SourceLocation) {
        self.verdict = verdict
        self.subject = subject
        self.target = target
        self.location = location
    }

    /// Normalized: `disallow group students : *`.
    public var text: String {
        let verb: String
        switch verdict {
        case .allow: verb = "allow"
        case .disallow: verb = "disallow"
        case .read: verb = "read"
        }
        let who: String
        switch subject {
        case .user(let name): who = "user \(name)"
        case .group(let name): who = "group \(name)"
        case .anyUser: who = "user *"
        }
        let what: String
        switch target {
        case .instance(let name): what = name
        case .all: what = "*"
        }
        return "\(verb) \(who) : \(what)"
    }
}
