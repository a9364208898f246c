/// Decides which clients may run which instances, from the `[access]` rules.
///
/// 1. A client without credentials (a remote, unauthenticated connection)
///    is always denied.
/// 2. A rule matches when its subject matches the client (`user NAME`: the
///    user name or the decimal uid; `group NAME`: one of the client's group
///    names, or a decimal gid equal to the primary or a supplementary gid;
///    `user *` / `group *`: every authenticated client) and its target
///    matches the instance (that instance, or `*` / `all`).
/// 3. The most specific matching rule decides. Specificity compares the
///    subject first (user > group > anyone), then the target (a named
///    instance > all instances). Between equally specific rules, the one
///    later in the configuration wins.
/// 4. When no rule matches, root (uid 0) is allowed and everyone else is
///    denied. (PCP's pipe agent let every client run an instance that no
///    rule named; this agent warns about such instances at start-up.)
///
/// So `disallow group students : *` with `allow user ann : bdev_trace` lets
/// ann run bdev_trace even though she is a student, and
/// `allow group perf : *` with `disallow group perf : bdev_trace` keeps the
/// perf group off bdev_trace only.
public struct AccessPolicy: Sendable {
    public let rules: [AccessRule]

    public init(rules: [AccessRule]) { self.rules = rules }

    public func decide(client: ClientIdentity, instance: String) -> AccessDecision {
        guard let uid = client.uid else {
            return AccessDecision(
                allowed: false, reason: "the client has no credentials (a remote, unauthenticated connection)",
                rule: nil)
        }
        let best = mostSpecific(
            among: rules.filter { $0.verdict != .read }, client: client, uid: uid, instance: instance)
        if let rule = best {
            let allowed = rule.verdict == .allow
            return AccessDecision(
                allowed: allowed,
                reason: "\(allowed ? "allowed" : "denied") by \(rule.location) (\(rule.text))",
                rule: rule)
        }
        if uid == 0 {
            return AccessDecision(allowed: true, reason: "root, and no access rule names this client", rule: nil)
        }
        return AccessDecision(
            allowed: false, reason: "no access rule allows \(client.summary) to run \(instance)", rule: nil)
    }

    /// The rule that decides for this client and instance: the most specific
    /// subject first (user, then group, then everyone), then the most specific
    /// target (a named instance before `*`); among equals the later rule wins.
    /// Nil when no rule names both the client and the instance.
    private func mostSpecific(among candidates: [AccessRule], client: ClientIdentity, uid: UInt32, instance: String)
        -> AccessRule?
    {
        var best: (rank: (Int, Int), rule: AccessRule)?
        for rule in candidates {
            guard let subjectRank = Self.subjectRank(rule.subject, client: client, uid: uid),
                let targetRank = Self.targetRank(rule.target, instance: instance)
            else { continue }
            let rank = (subjectRank, targetRank)
            if best == nil || rank >= best!.rank { best = (rank, rule) }
        }
        return best?.rule
    }

    private static func subjectRank(_ subject: AccessRule.Subject, client: ClientIdentity, uid: UInt32) -> Int? {
        switch subject {
        case .user(let name):
            return name == client.userName || UInt32(name) == uid ? 3 : nil
        case .group(let name):
            if client.groupNames.contains(name) { return 2 }
            guard let gid = UInt32(name) else { return nil }
            return gid == client.gid || client.groupIDs.contains(gid) ? 2 : nil
        case .anyUser:
            return 1
        }
    }

    private static func targetRank(_ target: AccessRule.Target, instance: String) -> Int? {
        switch target {
        case .instance(let name): return name == instance ? 2 : nil
        case .all: return 1
        }
    }

    /// Whether `client` may read a shared run of `instance` started by
    /// `owner` (its uid; nil for runs the agent started itself). Root and
    /// the run's owner always may. Anyone else needs a `read` rule: the most
    /// specific of the `read` and `disallow` rules that match decides, with
    /// the same ranking as `decide` (user > group > user *, a named
    /// instance > *, then the later rule); `allow` alone does not let a
    /// user read what others started.
    public func mayRead(client: ClientIdentity, instance: String, owner: UInt32?) -> AccessDecision {
        guard let uid = client.uid else {
            return AccessDecision(allowed: false, reason: "the client has no credentials", rule: nil)
        }
        if uid == 0 { return AccessDecision(allowed: true, reason: "root may read every run", rule: nil) }
        if let owner, owner == uid {
            return AccessDecision(allowed: true, reason: "the client started the run", rule: nil)
        }
        let best = mostSpecific(
            among: rules.filter { $0.verdict != .allow }, client: client, uid: uid, instance: instance)
        if let rule = best, rule.verdict == .read {
            return AccessDecision(allowed: true, reason: "read by \(rule.location) (\(rule.text))", rule: rule)
        }
        if let rule = best {
            return AccessDecision(allowed: false, reason: "denied by \(rule.location) (\(rule.text))", rule: rule)
        }
        return AccessDecision(
            allowed: false, reason: "no read rule lets \(client.summary) read runs of \(instance)", rule: nil)
    }
}
