import Foundation
import Testing
@testable import PipeCore

private func corpus(_ name: String) throws -> ConfigSource {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus/config/\(name)")
    return ConfigSource(name: name, text: try String(contentsOf: url, encoding: .utf8))
}

private func errors(_ sources: [ConfigSource]) -> [String] {
    do {
        _ = try Configuration.parse(sources)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

private func errors(_ text: String, name: String = "pipe.conf") -> [String] {
    errors([ConfigSource(name: name, text: text)])
}

@Test func pcpSampleFileParsesUnchanged() throws {
    let config = try Configuration.parse([try corpus("pcp-sample.conf")])
    #expect(config.commands.map(\.name) == ["rw_syscalls", "bdev_trace"])
    #expect(config.commands.map(\.user) == ["root", "root"])
    #expect(config.commands.map(\.commandLine) == ["perf script rw-by-file $1", "btrace -w $1 /dev/$2"])
    #expect(config.commands[1].location == SourceLocation(file: "pcp-sample.conf", line: 3))
    #expect(config.rules.isEmpty)
    #expect(config.warnings.map(\.description) == [
        "pcp-sample.conf:2: instance rw_syscalls is named by no access rule: only root may run it (PCP's pipe agent let every client run it); add 'allow user * : rw_syscalls' to keep that behaviour",
        "pcp-sample.conf:3: instance bdev_trace is named by no access rule: only root may run it (PCP's pipe agent let every client run it); add 'allow user * : bdev_trace' to keep that behaviour",
    ])
}

@Test func pcpReadmeAccessSectionParses() throws {
    let config = try Configuration.parse([try corpus("pcp-readme.conf")])
    #expect(config.rules.map(\.text) == [
        "allow user bob : *", "allow user jane : bdev_trace", "allow group perf : rw_syscalls",
    ])
    #expect(config.rules[1].location == SourceLocation(file: "pcp-readme.conf", line: 7))
    #expect(config.warnings.isEmpty)
}

@Test func everySettingIsRead() throws {
    let config = try Configuration.parse([try corpus("full.conf")])
    #expect(config.limits == GlobalLimits(maxRunning: 16, maxPerUser: 4, maxParameters: 8, maxParameterLength: 256))
    let bdev = try #require(config.command(named: "bdev_trace")).options
    #expect(bdev.parameterRules == [1: .integer(1...60), 2: .pattern("[a-z]+[0-9]*")])
    #expect(bdev.timeLimit == .seconds(300))
    #expect(bdev.killGrace == .milliseconds(1500))
    #expect(bdev.queueCapacity == ByteCount(bytes: 1 << 20))
    #expect(bdev.overflow == .drop)
    #expect(bdev.maxLineLength == 4096)
    #expect(bdev.outputLimit == ByteCount(bytes: 64 << 20))
    #expect(bdev.maxRunning == 2 && bdev.maxPerUser == 1)
    #expect(bdev.capabilities?.map(\.name) == ["cap_sys_admin", "cap_sys_rawio"])
    #expect(bdev.noNewPrivileges)
    #expect(bdev.stderr == .log)
    #expect(bdev.sha256?.count == 32 && bdev.sha256?.first == 0x01)
    let grep = try #require(config.command(named: "grep_log"))
    #expect(grep.options.parameterRules == [2: .oneOf(["10", "100", "1000"])])
    if case .shell = grep.template {} else { Issue.record("grep_log has a pipe: it needs a shell") }
    #expect(config.rules.map(\.text) == [
        "allow user bob : *", "allow group perf : rw_syscalls", "allow group perf : bdev_trace",
        "disallow group students : *", "allow user * : grep_log",
    ])
    #expect(config.command(named: "nosuch") == nil)
}

@Test func allErrorsAreReportedWithTheirLines() throws {
    #expect(errors([try corpus("broken.conf")]) == [
        "broken.conf:1: bad instance name 'bad!name': use letters, digits, '_', '.', '-'",
        "broken.conf:2: missing user name: expected 'NAME USER COMMAND'",
        "broken.conf:3: missing a command: expected 'NAME USER COMMAND'",
        "broken.conf:5: bad access directive 'permit': expected allow or disallow (as in 'allow user bob : bdev_trace;')",
        "broken.conf:6: bad access entity 'someone': expected user or group",
        "broken.conf:8: unknown limit 'max_things' (known: max_running, max_per_user, max_parameters, max_parameter_length)",
        "broken.conf:9: [instance nosuch] names no instance: no commands line defines 'nosuch'",
        "broken.conf:11: unknown section '[weird]': expected [commands], [access], [limits] or [instance NAME]",
    ])
}

@Test func locationsStayCorrectAcrossFiles() {
    let first = ConfigSource(name: "pipe.conf", text: "# comment\r\none root tool $1\r\n\r\n[access]\r\nallow user * : *\r\n")
    let second = ConfigSource(name: "pipe.conf.d/extra.conf", text: "\n\ntwo root tool\none root other\n[instance one]\nqueue = 1k\n")
    #expect(errors([first, second]) == [
        "pipe.conf.d/extra.conf:4: duplicate instance name 'one': already defined at pipe.conf:2",
        "pipe.conf.d/extra.conf:6: queue must be at least 128k (4k, and twice max_line 64k), not 1k",
    ])
}

@Test func instanceSectionsMayReferToCommandsInOtherFiles() throws {
    let config = try Configuration.parse([
        ConfigSource(name: "a.conf", text: "[instance later]\ntimeout = 500ms\n[access]\nallow user * : all\n"),
        ConfigSource(name: "b.conf", text: "later nobody sleep $1\n"),
    ])
    #expect(config.command(named: "later")?.options.timeLimit == .milliseconds(500))
    #expect(config.commands[0].location == SourceLocation(file: "b.conf", line: 1))
}

@Test(arguments: [
    ("allow user bob:*", "allow user bob : *"),
    ("allow user bob : *;", "allow user bob : *"),
    ("allow group perf: a, b;", "allow group perf : a|allow group perf : b"),
    ("disallow group * : all", "disallow user * : *"),
    ("allow user 1000 a", "allow user 1000 : a"),
])
func accessLinesAreTolerantOfPunctuation(_ line: String, _ expected: String) throws {
    let config = try Configuration.parse([ConfigSource(name: "p", text: "a root t\nb root t\n[access]\n\(line)\n")])
    #expect(config.rules.map(\.text).joined(separator: "|") == expected)
}

@Test(arguments: [
    ("x root $1 arg", "pipe.conf:1: instance x: the program name cannot come from a parameter"),
    ("all root tool", "pipe.conf:1: 'all' cannot be an instance name: in [access] rules it means every instance"),
    ("x root tool\n[access]\nallow user bob", "pipe.conf:3: missing instance: expected 'allow user bob : INSTANCE[,INSTANCE...]' (an instance name, * or all)"),
    ("x root tool\n[access]\nallow user : x", "pipe.conf:3: missing user name: expected 'allow user NAME : INSTANCE'"),
    ("x root tool\n[limits]\nmax_running = -1", "pipe.conf:3: max_running must be a whole number above zero, not '-1'"),
    ("x root tool\n[instance x]\ncolour = red", "pipe.conf:3: unknown instance setting 'colour' (known: queue, overflow, max_line, timeout, max_output, max_running, max_per_user, grace, param N, allow_dash, sha256, capabilities, no_new_privs, stderr)"),
    ("x root tool $1\n[instance x]\nparam 2 = integer 1..3", "pipe.conf:3: parameter 2 is never used by the command"),
    ("x root tool $1\n[instance x]\nparam 1 = pattern [a-", "pipe.conf:3: '[a-' is not a valid regular expression"),
    ("x root tool | cat\n[instance x]\nsha256 = 00", "pipe.conf:3: sha256 cannot pin a shell command (this command line uses shell syntax, so it runs /bin/sh): write it as plain words to run the program directly"),
    ("x root tool\n[instance x]\ncapabilities = perfmon, cap_bogus", "pipe.conf:3: unknown capability 'cap_bogus' (expected names from capabilities(7) like cap_perfmon, perfmon or CAP_SYS_ADMIN, or none)"),
    ("x root tool\n[instance x]\ntimeout = soon", "pipe.conf:3: timeout must be a positive duration like 30s, 5m, 1h or 1.5s, not 'soon'"),
    ("x root tool\n[instance x]\nmax_line = 100", "pipe.conf:3: max_line must be between 256 and 8m, not 100"),
    ("x root tool\n[instance x]\ntimeout = 1s\ntimeout = 2s", "pipe.conf:4: 'timeout' for instance x is already set at pipe.conf:3"),
    ("x root tool $40", "pipe.conf:1: instance x needs 40 parameters but max_parameters is 32"),
])
func errorMessagesSayWhatIsExpected(_ text: String, _ message: String) {
    let found = errors(text)
    #expect(found.count == 1)
    #expect(found.first?.hasPrefix(message) == true, "\(found)")
}

@Test func hashInsideACommandIsPartOfTheCommand() throws {
    let config = try Configuration.parse([ConfigSource(name: "p", text: "  # whole-line comment\nx root tool a#b\n")])
    #expect(config.commands[0].commandLine == "tool a#b")
}

@Test func emptyConfigurationWarns() throws {
    let config = try Configuration.parse([ConfigSource(name: "p", text: "# nothing\n")])
    #expect(config.warnings.map(\.message) == ["no commands are configured: add lines of the form 'NAME USER COMMAND'"])
    #expect(Configuration.empty.commands.isEmpty)
}

@Test func ruleForAnUndefinedInstanceWarns() throws {
    let config = try Configuration.parse([ConfigSource(name: "p", text: "x root t\n[access]\nallow user * : x, y\n")])
    #expect(config.warnings.map(\.description) == ["p:3: access rule 'allow user * : y' names instance y, which no commands line defines"])
}

@Test(arguments: [("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
                  ("2", .seconds(2)), ("1.5s", .milliseconds(1500)), ("0.25h", .seconds(900)), (".5", .milliseconds(500))])
func durationsAcceptUnitsAndDecimals(_ text: String, _ expected: Duration) {
    #expect(ConfigText.duration(text) == expected)
}

@Test func capabilityNamesAreLookedUpInEverySpelling() {
    #expect(Capability.lookup(named: "perfmon") == Capability(name: "cap_perfmon", number: 38))
    #expect(Capability.lookup(named: "CAP_PERFMON")?.number == 38)
    #expect(Capability.lookup(named: "cap_chown")?.number == 0)
    #expect(Capability.lookup(named: "checkpoint_restore")?.number == 40)
    #expect(Capability.lookup(named: "cap_nonsense") == nil)
    #expect(Capability.all.count == 41)
}
