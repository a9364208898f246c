import Testing

@testable import PipeCore

private func makeFacts() -> TableFacts {
    let facts = TableFacts()
    facts.paths["/var/log"] = [
        "syslog": .success("/var/log/syslog"),
        "/var/log/syslog": .success("/var/log/syslog"),
        "../../etc/shadow": .failure(FactRefusal("leads out of /var/log")),
    ]
    return facts
}

private func verdict(_ type: ParameterType, _ value: String, client: ClientIdentity = bobClient) -> ParameterVerdict {
    type.check(value, client: client, facts: makeFacts())
}

/// Letters and digits, as PCP's agent allowed: the default.
@Test(arguments: [
    ("sda", true), ("5", true), ("Abc123", true), ("", false), ("a b", false), ("1;2", false), ("../x", false),
    ("-rf", false), ("a.b", false), ("é", false), ("٣", false), ("a\u{0}", false), ("x$(id)", false), ("*", false),
])
func theDefaultTypeAcceptsOnlyASCIILettersAndDigits(_ value: String, _ accepted: Bool) {
    #expect((verdict(.default, value) == .accepted(value)) == accepted, "\(value.debugDescription)")
}

@Test func integersArriveInPlainDecimal() {
    let type = ParameterType.integer(-10...60)
    #expect(verdict(type, "5") == .accepted("5"))
    #expect(verdict(type, "+05") == .accepted("5"))
    #expect(verdict(type, "-007") == .accepted("-7"))
    #expect(verdict(type, "61") == .refused("is outside the range -10 to 60"))
    for bad in ["", "0x10", "5 ", "1e3", "٣", "--5", "99999999999999999999999", "+", "-"] {
        #expect(verdict(type, bad) != .accepted(bad), "\(bad)")
    }
}

@Test(arguments: [
    ("sda1", true), ("a.b:c@d+e=f%g-h_i", true), ("-rf", false), ("a..b", false), ("..", false), ("", false),
    ("a/b", false), ("a b", false), ("a;b", false), ("ä", false), ("a$", false), ("a'b", false),
])
func aWordHasOnlyLettersDigitsAndSafePunctuation(_ value: String, _ accepted: Bool) {
    #expect((verdict(.word, value) == .accepted(value)) == accepted, "\(value)")
}

@Test func oneOfComparesExactly() {
    let type = ParameterType.oneOf(["sda", "sdb"])
    #expect(verdict(type, "sda") == .accepted("sda"))
    #expect(verdict(type, "SDA") == .refused("is not one of: sda, sdb"))
    #expect(verdict(type, "sda ") != .accepted("sda "))
}

@Test func aPathIsWhatTheSystemResolvesItTo() {
    let type = ParameterType.path(under: "/var/log")
    #expect(verdict(type, "syslog") == .accepted("/var/log/syslog"))
    #expect(verdict(type, "/var/log/syslog") == .accepted("/var/log/syslog"))
    #expect(verdict(type, "../../etc/shadow") == .refused("leads out of /var/log"))
    #expect(verdict(type, "") == .refused("is empty (expected a path under /var/log)"))
}

@Test func aPidMustBeAProcessTheClientOwnsUnlessTheClientIsRoot() {
    #expect(verdict(.pid, "4242") == .refused("is a process you do not own (real uid 1001)"))
    #expect(verdict(.pid, "4242", client: ClientIdentity(uid: 1001, gid: 1001)) == .accepted("4242"))
    #expect(verdict(.pid, "1", client: rootClient) == .accepted("1"))
    #expect(verdict(.pid, "99") == .refused("is not a running process"))
    for bad in ["", "-1", "0", "1x", "01234567890", "+5"] {
        #expect(verdict(.pid, bad) == .refused("is not a process id"), "\(bad)")
    }
}

/// A client (uid 1000, groups 1000 and 2000) names a process: only one all
/// of whose uids are the client's and all of whose gids its groups is the
/// client's. The attack: `sleep 30 | su root -c true &` leaves su waiting
/// with the client's real uid and root's effective, saved and filesystem uids.
@Test(
    arguments: [
        ([1000, 1000, 1000, 1000], [1000, 1000, 1000, 1000], nil),
        ([1000, 1000, 1000, 1000], [2000, 1000, 2000, 1000], nil),
        (
            [1000, 0, 0, 0], [1000, 1000, 1000, 1000],
            "is a process that runs with another user's privileges (effective uid 0)"
        ),
        (
            [1000, 1000, 0, 1000], [1000, 1000, 1000, 1000],
            "is a process that runs with another user's privileges (saved uid 0)"
        ),
        (
            [1000, 1000, 1000, 0], [1000, 1000, 1000, 1000],
            "is a process that runs with another user's privileges (filesystem uid 0)"
        ),
        ([0, 1000, 1000, 1000], [1000, 1000, 1000, 1000], "is a process you do not own (real uid 0)"),
        ([1001, 1001, 1001, 1001], [1000, 1000, 1000, 1000], "is a process you do not own (real uid 1001)"),
        (
            [1000, 1000, 1000, 1000], [1000, 42, 42, 42],
            "is a process that runs with the privileges of a group you are not in (effective gid 42)"
        ),
        (
            [1000, 1000, 1000, 1000], [0, 1000, 1000, 1000],
            "is a process that runs with the privileges of a group you are not in (real gid 0)"
        ),
        (
            [1000, 1000, 1000, 1000], [1000, 1000, 1000, 5],
            "is a process that runs with the privileges of a group you are not in (filesystem gid 5)"
        ),
        ([1000, 1000], [1000, 1000], "cannot be checked: its credentials are incomplete"),
    ] as [([UInt32], [UInt32], String?)])
func aPidIsTheClientsOnlyWhenEveryUidAndGidIs(_ uids: [UInt32], _ gids: [UInt32], _ refusal: String?) {
    let credentials = ProcessCredentials(uids: uids, gids: gids)
    #expect(credentials.refusal(for: bobClient) == refusal, "\(uids) \(gids)")
    #expect(credentials.refusal(for: rootClient) == nil)
    let facts = TableFacts()
    facts.processes[777] = credentials
    #expect(
        ParameterType.pid.check("777", client: bobClient, facts: facts)
            == (refusal.map { .refused($0) } ?? .accepted("777")))
}

@Test func theCredentialsAreReadFromProcStatus() {
    let su = "Name:\tsu\nUmask:\t0022\nUid:\t1003\t0\t0\t0\nGid:\t1003\t1003\t1003\t1003\nGroups:\t1003\n"
    #expect(
        ProcessCredentials(procStatus: su)
            == ProcessCredentials(uids: [1003, 0, 0, 0], gids: [1003, 1003, 1003, 1003]))
    #expect(ProcessCredentials(procStatus: "Uid:\t1\t1\t1\nGid:\t1\t1\t1\t1\n") == nil)
    #expect(ProcessCredentials(procStatus: "Uid:\t1\t1\t1\t1\n") == nil)
    #expect(ProcessCredentials(procStatus: "Uid:\t1\tx\t1\t1\nGid:\t1\t1\t1\t1\n") == nil)
    #expect(ProcessCredentials(procStatus: "") == nil)
}

@Test func aBlockDeviceMustExist() {
    #expect(verdict(.blockDevice, "sda") == .accepted("sda"))
    #expect(verdict(.blockDevice, "dm-0") == .accepted("dm-0"))
    #expect(verdict(.blockDevice, "sdz") == .refused("is not a block device of this machine"))
    for bad in ["../sda", "-sda", "sd a", "", ".", "sda/1"] {
        #expect(verdict(.blockDevice, bad) == .refused("is not a block device name"), "\(bad)")
    }
}

@Test func anyAcceptsEverything() {
    for value in ["", "a b", "$(id)", "../../etc/shadow", "-rf"] {
        #expect(verdict(.any, value) == .accepted(value))
    }
}

@Test(arguments: [
    ("alnum", ParameterType.alnum), ("integer 1..60", .integer(1...60)), ("integer -5..+5", .integer(-5...5)),
    ("oneof sda sdb, nvme0n1", .oneOf(["sda", "sdb", "nvme0n1"])), ("word", .word), ("any", .any),
    ("path under /var//log/", .path(under: "/var/log")), ("pid", .pid), ("blockdev", .blockDevice),
    ("PATH under /srv", .path(under: "/srv")),
])
func typesParseFromConfigurationText(_ text: String, _ type: ParameterType) throws {
    #expect(try ParameterType.parse(text, engine: testEngine) == type)
}

@Test(arguments: [
    ("integer 9..1", "the range 9..1 is empty: write MIN..MAX"),
    ("integer x..1", "expected 'integer MIN..MAX' with whole numbers, like 'integer 1..60', not 'integer x..1'"),
    (
        "regex a",
        "unknown parameter type 'regex': expected alnum, integer MIN..MAX, oneof A B C, word, pattern REGEX, path under DIR, pid, blockdev or any"
    ),
    ("path under var/log", "the directory of 'path under' must be absolute, not 'var/log'"),
    ("path under /var/../etc", "the directory of 'path under' may not contain '.' or '..' ('/var/../etc')"),
    ("path /var/log", "expected 'path under DIR' with an absolute directory, like 'path under /var/log'"),
    ("word x", "'word' takes nothing after it, not 'x'"),
    ("pattern", "expected a regular expression after 'pattern'"),
    ("oneof", "expected the allowed values after 'oneof', like 'oneof sda sdb'"),
])
func badTypesAreRefusedWithAReason(_ text: String, _ message: String) {
    #expect(throws: TemplateError(message)) { try ParameterType.parse(text, engine: testEngine) }
}

@Test func onlyPlainWordTypesMayBeSplicedIntoText() {
    let embedded = Placement.embedded(context: "inside the word '/var/log/$1'")
    let plain: [ParameterType] = [.alnum, .integer(1...3), .oneOf(["sda", "dm-0", "a.b"]), .pid, .blockDevice]
    let wide: [ParameterType] = [
        .word, .any, .path(under: "/var/log"), .oneOf(["a b;c"]), .oneOf(["-x"]),
        .oneOf(["../x"]), .pattern(try! testEngine.compile("a|b")),
    ]
    for type in plain {
        #expect(
            type.isAllowed(at: embedded) && type.isAllowed(at: .wholeShellWord) && type.isAllowed(at: .wholeArgument),
            "\(type.text)")
    }
    for type in wide {
        #expect(!type.isAllowed(at: embedded), "\(type.text)")
        #expect(type.isAllowed(at: .wholeArgument), "\(type.text)")
    }
    #expect(ParameterType.path(under: "/srv").isAllowed(at: .wholeShellWord))
    #expect(!ParameterType.any.isAllowed(at: .wholeShellWord))
    #expect(!ParameterType.word.isAllowed(at: .wholeShellWord))
}
