import Testing

@testable import PipeCore

private func rule(_ verdict: AccessRule.Verdict, _ subject: AccessRule.Subject, _ target: AccessRule.Target, line: Int)
    -> AccessRule
{
    AccessRule(
        verdict: verdict, subject: subject, target: target, location: SourceLocation(file: "pipe.conf", line: line))
}

private let bob = ClientIdentity(
    uid: 1000, gid: 1000, userName: "bob", groupNames: ["bob", "perf", "students"], groupIDs: [1000, 2000, 3000])
private let ann = ClientIdentity(uid: 1001, gid: 1001, userName: "ann", groupNames: ["ann"], groupIDs: [1001])
private let root = ClientIdentity(uid: 0, gid: 0, userName: "root", groupNames: ["root"], groupIDs: [0])
private let remote = ClientIdentity()

struct AccessCase: Sendable, CustomTestStringConvertible {
    let name: String
    let rules: [AccessRule]
    let client: ClientIdentity
    let instance: String
    let allowed: Bool
    let reason: String
    var testDescription: String { name }
}

let accessCases: [AccessCase] = [
    AccessCase(
        name: "no credentials are denied even with allow *", rules: [rule(.allow, .anyUser, .all, line: 1)],
        client: remote, instance: "bdev", allowed: false,
        reason: "the client has no credentials (a remote, unauthenticated connection)"),
    AccessCase(
        name: "no rule: root allowed", rules: [], client: root, instance: "bdev", allowed: true,
        reason: "root, and no access rule names this client"),
    AccessCase(
        name: "no rule: user denied", rules: [], client: bob, instance: "bdev_trace", allowed: false,
        reason: "no access rule allows user bob (uid 1000) to run bdev_trace"),
    AccessCase(
        name: "no rule: nameless uid denied", rules: [], client: ClientIdentity(uid: 42), instance: "x",
        allowed: false, reason: "no access rule allows uid 42 to run x"),
    AccessCase(
        name: "rule for another instance does not match",
        rules: [rule(.allow, .user("bob"), .instance("other"), line: 3)],
        client: bob, instance: "bdev", allowed: false, reason: "no access rule allows user bob (uid 1000) to run bdev"),
    AccessCase(
        name: "user by name", rules: [rule(.allow, .user("bob"), .instance("bdev"), line: 12)],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:12 (allow user bob : bdev)"),
    AccessCase(
        name: "user by uid", rules: [rule(.allow, .user("1000"), .all, line: 2)],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:2 (allow user 1000 : *)"),
    AccessCase(
        name: "supplementary group by name", rules: [rule(.allow, .group("perf"), .instance("bdev"), line: 4)],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:4 (allow group perf : bdev)"),
    AccessCase(
        name: "supplementary group by gid", rules: [rule(.allow, .group("2000"), .all, line: 4)],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:4 (allow group 2000 : *)"),
    AccessCase(
        name: "group the client is not in", rules: [rule(.allow, .group("perf"), .all, line: 4)],
        client: ann, instance: "bdev", allowed: false, reason: "no access rule allows user ann (uid 1001) to run bdev"),
    AccessCase(
        name: "anyone", rules: [rule(.allow, .anyUser, .all, line: 1)],
        client: ann, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:1 (allow user * : *)"),
    AccessCase(
        name: "root can be disallowed by a rule", rules: [rule(.disallow, .user("root"), .all, line: 9)],
        client: root, instance: "bdev", allowed: false, reason: "denied by pipe.conf:9 (disallow user root : *)"),
    // Subject precedence: user > group > anyone, whatever the order.
    AccessCase(
        name: "user beats group",
        rules: [rule(.allow, .user("bob"), .all, line: 1), rule(.disallow, .group("students"), .all, line: 2)],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:1 (allow user bob : *)"),
    AccessCase(
        name: "user beats group (disallow)",
        rules: [
            rule(.disallow, .user("bob"), .all, line: 1), rule(.allow, .group("perf"), .instance("bdev"), line: 2),
        ],
        client: bob, instance: "bdev", allowed: false, reason: "denied by pipe.conf:1 (disallow user bob : *)"),
    AccessCase(
        name: "group beats anyone",
        rules: [
            rule(.disallow, .group("students"), .all, line: 5), rule(.allow, .anyUser, .instance("bdev"), line: 6),
        ],
        client: bob, instance: "bdev", allowed: false, reason: "denied by pipe.conf:5 (disallow group students : *)"),
    AccessCase(
        name: "user beats anyone",
        rules: [rule(.allow, .anyUser, .instance("bdev"), line: 1), rule(.disallow, .user("bob"), .all, line: 2)],
        client: bob, instance: "bdev", allowed: false, reason: "denied by pipe.conf:2 (disallow user bob : *)"),
    // Target precedence within the same subject rank.
    AccessCase(
        name: "named instance beats all",
        rules: [
            rule(.disallow, .group("perf"), .instance("bdev"), line: 7), rule(.allow, .group("perf"), .all, line: 8),
        ],
        client: bob, instance: "bdev", allowed: false, reason: "denied by pipe.conf:7 (disallow group perf : bdev)"),
    AccessCase(
        name: "all applies to other instances",
        rules: [
            rule(.disallow, .group("perf"), .instance("bdev"), line: 7), rule(.allow, .group("perf"), .all, line: 8),
        ],
        client: bob, instance: "rw", allowed: true, reason: "allowed by pipe.conf:8 (allow group perf : *)"),
    AccessCase(
        name: "subject outranks target",
        rules: [
            rule(.allow, .user("bob"), .all, line: 1), rule(.disallow, .group("perf"), .instance("bdev"), line: 2),
        ],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:1 (allow user bob : *)"),
    // Ties: the later rule wins.
    AccessCase(
        name: "tie: later disallow wins",
        rules: [rule(.allow, .group("perf"), .all, line: 1), rule(.disallow, .group("students"), .all, line: 2)],
        client: bob, instance: "bdev", allowed: false, reason: "denied by pipe.conf:2 (disallow group students : *)"),
    AccessCase(
        name: "tie: later allow wins",
        rules: [
            rule(.disallow, .user("bob"), .instance("bdev"), line: 1),
            rule(.allow, .user("1000"), .instance("bdev"), line: 2),
        ],
        client: bob, instance: "bdev", allowed: true, reason: "allowed by pipe.conf:2 (allow user 1000 : bdev)"),
    AccessCase(
        name: "primary gid matches", rules: [rule(.allow, .group("1001"), .all, line: 3)],
        client: ann, instance: "x", allowed: true, reason: "allowed by pipe.conf:3 (allow group 1001 : *)"),
]

@Test(arguments: accessCases)
func accessDecisionFollowsTheMostSpecificRule(_ testCase: AccessCase) {
    let decision = AccessPolicy(rules: testCase.rules).decide(client: testCase.client, instance: testCase.instance)
    #expect(decision.allowed == testCase.allowed)
    #expect(decision.reason == testCase.reason)
}

/// Who may read a shared run someone else started: `read` rules, ranked as
/// allow/disallow are, with `disallow` able to take it away.
struct ReadRuleTests {
    static func rules(_ text: String) throws -> AccessPolicy {
        AccessPolicy(rules: try configuration("trace root btrace\nother root echo\n[access]\n\(text)\n").rules)
    }

    static let carol = ClientIdentity(
        uid: 1002, gid: 1002, userName: "carol", groupNames: ["carol", "perf"], groupIDs: [1002, 2000])
    static let dave = ClientIdentity(uid: 1003, gid: 1003, userName: "dave", groupNames: ["dave"], groupIDs: [1003])

    @Test(arguments: [
        ("read group perf : trace", true, false),
        ("read user * : trace", true, true),
        ("read user * : *\ndisallow group perf : trace", false, true),
        ("read group perf : *\ndisallow user carol : trace", false, false),
        ("disallow user carol : *\nread group perf : trace", false, false),
        ("allow user * : trace", false, false),
        ("read user carol : other", false, false),
    ])
    func readRulesDecide(_ text: String, _ carolMay: Bool, _ daveMay: Bool) throws {
        let policy = try Self.rules(text)
        #expect(policy.mayRead(client: Self.carol, instance: "trace", owner: 1000).allowed == carolMay, "\(text)")
        #expect(policy.mayRead(client: Self.dave, instance: "trace", owner: 1000).allowed == daveMay, "\(text)")
    }

    @Test func theOwnerAndRootAlwaysReadAndReadRulesDoNotLetAnyoneRun() throws {
        let policy = try Self.rules("read user * : trace")
        #expect(policy.mayRead(client: Self.dave, instance: "trace", owner: 1003).allowed)
        #expect(policy.mayRead(client: ClientIdentity(uid: 0, gid: 0), instance: "trace", owner: 1003).allowed)
        #expect(!policy.mayRead(client: ClientIdentity(), instance: "trace", owner: nil).allowed)
        #expect(!policy.decide(client: Self.dave, instance: "trace").allowed, "read does not allow running")
    }
}
