import Foundation
import Testing

@testable import PipeCore

private func corpus(_ name: String) throws -> ConfigSource {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Corpus/config/\(name)")
    return ConfigSource(name: name, text: try String(contentsOf: url, encoding: .utf8))
}

private func errors(_ sources: [ConfigSource]) -> [String] {
    do {
        _ = try Configuration.parse(sources, engine: testEngine)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

private func errors(_ text: String, name: String = "pipe.conf") -> [String] {
    errors([ConfigSource(name: name, text: text)])
}

private func parse(_ sources: [ConfigSource]) throws -> Configuration {
    try Configuration.parse(sources, engine: testEngine)
}

@Test func pcpSampleFileParsesUnchanged() throws {
    let config = try parse([try corpus("pcp-sample.conf")])
    #expect(config.commands.map(\.name) == ["rw_syscalls", "bdev_trace"])
    #expect(config.commands.map(\.user) == ["root", "root"])
    #expect(config.commands.map(\.commandLine) == ["perf script rw-by-file $1", "btrace -w $1 /dev/$2"])
    #expect(config.commands[1].location == SourceLocation(file: "pcp-sample.conf", line: 3))
    #expect(config.rules.isEmpty)
    #expect(
        config.warnings.map(\.description) == [
            "pcp-sample.conf:2: instance rw_syscalls is named by no access rule: only root may run it (PCP's pipe agent let every client run it); add 'allow user * : rw_syscalls' to keep that behaviour",
            "pcp-sample.conf:3: instance bdev_trace is named by no access rule: only root may run it (PCP's pipe agent let every client run it); add 'allow user * : bdev_trace' to keep that behaviour",
        ])
}

@Test func pcpReadmeAccessSectionParses() throws {
    let config = try parse([try corpus("pcp-readme.conf")])
    #expect(
        config.rules.map(\.text) == [
            "allow user bob : *", "allow user jane : bdev_trace", "allow group perf : rw_syscalls",
        ])
    #expect(config.rules[1].location == SourceLocation(file: "pcp-readme.conf", line: 7))
    #expect(config.warnings.isEmpty)
}

@Test func everySettingIsRead() throws {
    let config = try parse([try corpus("full.conf")])
    #expect(config.limits == GlobalLimits(maxRunning: 16, maxPerUser: 4, maxParameters: 8, maxParameterLength: 256))
    let bdev = try #require(config.command(named: "bdev_trace")).options
    #expect(bdev.parameterTypes == [1: .integer(1...60), 2: .blockDevice])
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
    #expect(grep.options.parameterTypes == [2: .oneOf(["10", "100", "1000"])])
    #expect(!grep.template.isDirect, "grep_log has a pipe: it needs a shell")
    #expect(
        config.rules.map(\.text) == [
            "allow user bob : *", "allow group perf : rw_syscalls", "allow group perf : bdev_trace",
            "disallow group students : *", "allow user * : grep_log",
        ])
    #expect(config.command(named: "nosuch") == nil)
}

@Test func allErrorsAreReportedWithTheirLines() throws {
    #expect(
        errors([try corpus("broken.conf")]) == [
            "broken.conf:1: 'all' cannot be an instance name: in [access] rules it means every instance",
            "broken.conf:2: missing user name: expected 'NAME USER COMMAND'",
            "broken.conf:3: missing a command: expected 'NAME USER COMMAND'",
            "broken.conf:5: bad access directive 'permit': expected allow, disallow or read (as in 'allow user bob : bdev_trace;')",
            "broken.conf:6: bad access entity 'someone': expected user or group",
            "broken.conf:8: unknown limit 'max_things' (known: max_running, max_per_user, max_parameters, max_parameter_length, idle_timeout, reserved, reserved_group, log_size)",
            "broken.conf:9: [instance nosuch] names no instance: no commands line defines 'nosuch'",
            "broken.conf:11: unknown section '[weird]': expected [commands], [access], [limits] or [instance NAME]",
        ])
}

@Test func locationsStayCorrectAcrossFiles() {
    let first = ConfigSource(
        name: "pipe.conf", text: "# comment\r\none root tool $1\r\n\r\n[access]\r\nallow user * : *\r\n")
    let second = ConfigSource(
        name: "pipe.conf.d/extra.conf", text: "\n\ntwo root tool\none root other\n[instance one]\nqueue = 1k\n")
    #expect(
        errors([first, second]) == [
            "pipe.conf.d/extra.conf:4: duplicate instance name 'one': already defined at pipe.conf:2",
            "pipe.conf.d/extra.conf:6: queue must be at least 128k (4k, and twice max_line 64k), not 1k",
        ])
}

@Test func instanceSectionsMayReferToCommandsInOtherFiles() throws {
    let config = try parse([
        ConfigSource(name: "a.conf", text: "[instance later]\ntimeout = 500ms\n[access]\nallow user * : all\n"),
        ConfigSource(name: "b.conf", text: "later nobody sleep $1\n"),
    ])
    #expect(config.command(named: "later")?.options.timeLimit == .milliseconds(500))
    #expect(config.commands[0].location == SourceLocation(file: "b.conf", line: 1, fileOrder: 1))
}

@Test(arguments: [
    ("allow user bob:*", "allow user bob : *"),
    ("allow user bob : *;", "allow user bob : *"),
    ("allow group perf: a, b;", "allow group perf : a|allow group perf : b"),
    ("disallow group * : all", "disallow user * : *"),
    ("allow user 1000 a", "allow user 1000 : a"),
])
func accessLinesAreTolerantOfPunctuation(_ line: String, _ expected: String) throws {
    let config = try parse([ConfigSource(name: "p", text: "a root t\nb root t\n[access]\n\(line)\n")])
    #expect(config.rules.map(\.text).joined(separator: "|") == expected)
}

@Test(arguments: [
    ("x root $1 arg", "pipe.conf:1: instance x: the program name cannot come from a parameter"),
    ("all root tool", "pipe.conf:1: 'all' cannot be an instance name: in [access] rules it means every instance"),
    (
        "x root tool\n[access]\nallow user bob",
        "pipe.conf:3: missing instance: expected 'allow user bob : INSTANCE[,INSTANCE...]' (an instance name, * or all)"
    ),
    ("x root tool\n[access]\nallow user : x", "pipe.conf:3: missing user name: expected 'allow user NAME : INSTANCE'"),
    ("x root tool\n[limits]\nmax_running = -1", "pipe.conf:3: max_running must be a whole number above zero, not '-1'"),
    (
        "x root tool\n[instance x]\ncolour = red",
        "pipe.conf:3: unknown instance setting 'colour' (known: param N, queue, overflow, max_line, timeout, max_output, max_running, max_per_user, grace, allow_dash, sha256, capabilities, no_new_privs, stderr, idle_timeout, memory, tasks, cpu, shared, autostart, params, restart, retain, idle_expiry, buffer, tail)"
    ),
    ("x root tool $1\n[instance x]\nparam 2 = integer 1..3", "pipe.conf:3: parameter 2 is never used by the command"),
    (
        "x root tool $1\n[instance x]\nparam 1 = pattern [a-",
        "pipe.conf:3: '[a-' is not a literal alternation (test engine)"
    ),
    (
        "x root tool | cat\n[instance x]\nsha256 = 00",
        "pipe.conf:3: sha256 cannot pin a shell command (this command line uses shell syntax, so it runs /bin/sh): write it as plain words to run the program directly"
    ),
    (
        "x root tool\n[instance x]\ncapabilities = perfmon, cap_bogus",
        "pipe.conf:3: unknown capability 'cap_bogus' (expected names from capabilities(7) like cap_perfmon, perfmon or CAP_SYS_ADMIN, or none)"
    ),
    (
        "x root tool\n[instance x]\ntimeout = soon",
        "pipe.conf:3: timeout must be a positive duration like 30s, 5m, 1h or 1.5s, not 'soon'"
    ),
    ("x root tool\n[instance x]\nmax_line = 100", "pipe.conf:3: max_line must be between 256 and 8m, not 100"),
    (
        "x root tool\n[instance x]\ntimeout = 1s\ntimeout = 2s",
        "pipe.conf:4: 'timeout' for instance x is already set at pipe.conf:3"
    ),
    ("x root tool $40", "pipe.conf:1: instance x needs 40 parameters but max_parameters is 32"),
])
func errorMessagesSayWhatIsExpected(_ text: String, _ message: String) {
    let found = errors(text)
    #expect(found.count == 1)
    #expect(found.first?.hasPrefix(message) == true, "\(found)")
}

@Test func hashInsideACommandIsPartOfTheCommand() throws {
    let config = try parse([
        ConfigSource(name: "p", text: "  # whole-line comment\nx root tool a#b '# x' \"# y\" \\#z\n")
    ])
    #expect(config.commands[0].commandLine == "tool a#b '# x' \"# y\" \\#z")
}

/// A `#` after a blank starts a comment on any line: section headers,
/// rules, settings, and commands (where the shell read it as one anyway).
@Test func commentsMayEndAnyLine() throws {
    let config = try configuration(
        """
        hello   root   echo hello   # greets
        [access]   # who may run what
        allow user root : hello  # admins
        [instance hello]  # settings
        timeout = 5s  # short
        [limits] # agent-wide
        max_running = 3 # few
        """)
    #expect(config.command(named: "hello")?.commandLine == "echo hello")
    #expect(config.command(named: "hello")?.template.isDirect == true)
    #expect(config.rules.map(\.text) == ["allow user root : hello"])
    #expect(config.command(named: "hello")?.options.timeLimit == .seconds(5))
    #expect(config.limits.maxRunning == 3)
}

/// PCP's QA test 879: an instance name may hold any printable non-blank
/// characters.
@Test func instanceNamesMayHoldAnyPrintableNonBlankCharacters() throws {
    let config = try configuration(";34@#bleurg  root        /bin/true\n[access]\nallow user * : ;34@#bleurg\n")
    #expect(config.commands.map(\.name) == [";34@#bleurg"])
    #expect(config.rules.map(\.text) == ["allow user * : ;34@#bleurg"])
}

@Test func aNULByteInAnyLineIsAnError() {
    #expect(
        errors("x root echo a\u{0}b\n") == [
            "pipe.conf:1: the line holds a NUL byte, which no command, name or setting may contain"
        ])
}

@Test func emptyConfigurationWarns() throws {
    let config = try parse([ConfigSource(name: "p", text: "# nothing\n")])
    #expect(config.warnings.map(\.message) == ["no commands are configured: add lines of the form 'NAME USER COMMAND'"])
    #expect(Configuration.empty.commands.isEmpty)
}

@Test func ruleForAnUndefinedInstanceWarns() throws {
    let config = try parse([ConfigSource(name: "p", text: "x root t\n[access]\nallow user * : x, y\n")])
    #expect(
        config.warnings.map(\.description) == [
            "p:3: access rule 'allow user * : y' names instance y, which no commands line defines"
        ])
}

/// Admission checks the agent's limits before an instance's: an instance
/// limit above them would never apply, and -C says so.
@Test(arguments: [
    (
        "max_running = 10", "[limits]\nmax_running = 8\n",
        "p:1: instance x: max_running 10 is more than [limits] max_running 8, which is what applies"
    ),
    (
        "max_per_user = 9", "",
        "p:1: instance x: max_per_user 9 is more than [limits] max_per_user 8, which is what applies"
    ),
])
func anInstanceLimitAboveTheAgentsIsWarnedAbout(_ setting: String, _ limits: String, _ warning: String) throws {
    let access = "[access]\nallow user * : x\n"
    let above = try parse([ConfigSource(name: "p", text: "x root t\n[instance x]\n\(setting)\n\(limits)\(access)")])
    #expect(above.warnings.map(\.description) == [warning])
    let within = try parse([ConfigSource(name: "p", text: "x root t\n[instance x]\nmax_running = 2\n\(access)")])
    #expect(within.warnings.isEmpty)
}

@Test(arguments: [
    ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
    ("2", .seconds(2)), ("1.5s", .milliseconds(1500)), ("0.25h", .seconds(900)), (".5", .milliseconds(500)),
])
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

/// The command lines of issue 8's attacks: each is valid with its
/// parameters left at the default (letters and digits, which is what made
/// them safe with PCP's agent), and refused at load time with a wider type,
/// naming file:line, the placeholder, where it stands and the fix.
@Test(arguments: [
    ("cat /var/log/$1", "path under /var/log", "$1 stands inside the word '/var/log/$1'"),
    ("ls /srv/$1", "word", "$1 stands inside the word '/srv/$1'"),
    ("tail -n 2 /var/log/$1", "any", "$1 stands inside the word '/var/log/$1'"),
    ("cat /var/log/$1 | head -n 3", "path under /var/log", "$1 stands inside a larger word"),
    ("sed -n \"/$1/p\" /var/log/syslog", "pattern a|b", "$1 stands inside a double-quoted string with other text"),
    ("awk '/$1/' /var/log/syslog", "word", "$1 stands inside single quotes"),
    ("sh -c \"ls /srv/$1\"", "any", "$1 stands inside the script that 'sh -c' runs"),
    ("su -s /bin/sh nobody -c \"ls /srv/$1\"", "word", "$1 stands inside the script that 'su -c' runs"),
    (
        "trap \"rm -f /tmp/x.$1\" EXIT; sleep 1", "alnum",
        "a placeholder in the arguments of 'trap' would be run as shell code"
    ),
    ("for f in /var/log/$1; do tail -n 2 $f; done", "any", "$1 stands inside a larger word"),
    ("echo $1 | xargs prog", "any", "$1 stands as a whole word of a shell command line"),
    ("echo $1 | xargs prog", "word", "$1 stands as a whole word of a shell command line"),
    ("\"eval\" $1", "alnum", "a placeholder in the arguments of 'eval' would be run as shell code"),
    ("e\\val \"$1\"", "alnum", "a placeholder in the arguments of 'eval' would be run as shell code"),
    ("tool --file=$1", "path under /srv", "$1 stands inside the word '--file=$1'"),
])
func parametersWiderThanPlainWordsAreRefusedWhereTheyWouldBeSpliced(_ line: String, _ type: String, _ message: String) {
    let text = type == "alnum" ? "x root \(line)\n" : "x root \(line)\n[instance x]\nparam 1 = \(type)\n"
    let found = configurationErrors(text)
    #expect(found.count == 1, "\(found)")
    #expect(found.first?.hasPrefix("pipe.conf:1: ") == true, "\(found)")
    #expect(found.first?.contains(message) == true, "\(found)")
    if type != "alnum" && !message.contains("would be run as shell code") {
        #expect(configurationErrors("x root \(line)\n").isEmpty, "with the default type: \(line)")
    }
}

@Test func theFixNamesTheWholeArgumentForm() {
    #expect(
        configurationErrors("viewlog root cat /var/log/$1\n[instance viewlog]\nparam 1 = path under /var/log\n") == [
            "pipe.conf:1: instance viewlog: $1 stands inside the word '/var/log/$1', where only a plain word may go "
                + "(letters and digits, the default; integer; oneof; pid; blockdev), but param 1 is 'path under /var/log': "
                + "make $1 a whole argument of a command line without shell syntax (like 'cat $1' with "
                + "'param 1 = path under /var/log'); the command then gets the resolved path"
        ])
}

@Test(arguments: [
    ("cat $1", "path under /var/log"), ("cat $1 | head", "path under /var/log"),
    ("cat \"$1\" | head", "path under /srv"),
    ("btrace -w $1 /dev/$2", "integer 1..60"), ("tool -p $1", "any"), ("tool $0", "word"),
    ("cat /var/log/$1.log", "oneof syslog kern"), ("ls /dev/$1", "blockdev"), ("perf trace -p $1", "pid"),
    ("awk '{print $1}' /etc/hostname", "integer 1..9"),
])
func typesThatFitWhereTheyStandAreAccepted(_ line: String, _ type: String) throws {
    let config = try configuration("x root \(line)\n[instance x]\nparam 1 = \(type)\n")
    #expect(
        config.command(named: "x")?.options.parameterType(1).text == type
            || type.hasPrefix("path") || type.hasPrefix("oneof"))
}

@Test func aOneOfListSplicedIntoTextMayOnlyHoldPlainWords() {
    #expect(
        configurationErrors("x root cat /var/log/$1\n[instance x]\nparam 1 = oneof syslog ../../etc/shadow\n").count
            == 1)
    #expect(configurationErrors("x root cat $1\n[instance x]\nparam 1 = oneof /etc/hostname /etc/os-release\n").isEmpty)
}

@Test func wideParametersOfProgramsThatRunCodeAreWarnedAbout() throws {
    let config = try configuration(
        "x root awk -f /etc/x.awk $1\n[instance x]\nparam 1 = any\n[access]\nallow user * : x\n")
    #expect(
        config.warnings.map(\.description) == [
            "pipe.conf:1: instance x: parameter 1 ('any') is an argument of 'awk', which can run its arguments as code "
                + "or as a command: make sure the type cannot carry a program"
        ])
    #expect(try configuration("x root awk -f /etc/x.awk $1\n[access]\nallow user * : x\n").warnings.isEmpty)
}

/// At start-up one bad drop-in must not leave the agent with no commands.
@Test func startUpLeavesOutOnlyTheFilesWithErrors() {
    let sources = [
        ConfigSource(name: "pipe.conf", text: "good root echo ok\n[access]\nallow user * : good, other\n"),
        ConfigSource(name: "pipe.conf.d/bad.conf", text: "bad root cat /var/log/$1\n[instance bad]\nparam 1 = any\n"),
        ConfigSource(name: "pipe.conf.d/other.conf", text: "other root echo other\n"),
        ConfigSource(name: "pipe.conf.d/refers.conf", text: "[instance bad]\ntimeout = 5s\n"),
    ]
    let (config, refused) = Configuration.parseSkippingBadFiles(sources, engine: testEngine)
    #expect(config.commands.map(\.name) == ["good", "other"])
    #expect(refused.map(\.file) == ["pipe.conf.d/bad.conf", "pipe.conf.d/refers.conf"])
    #expect(refused[1].errors.map(\.message) == ["[instance bad] names no instance: no commands line defines 'bad'"])
    #expect(throws: ConfigurationErrors.self) { try Configuration.parse(sources, engine: testEngine) }
}

@Test func sharedRunSettingsAreReadAndCheckedTogether() throws {
    let config = try configuration(
        """
        trace root btrace -w $1 /dev/sda
        [instance trace]
        param 1 = integer 1..3600
        shared = yes
        autostart = yes
        params = 600
        restart = no
        retain = 1h
        buffer = 8m
        tail = 50
        idle_expiry = 10m
        [access]
        read group perf : trace
        """)
    let options = try #require(config.command(named: "trace")).options
    #expect(options.shared && options.autostart && !options.restart)
    #expect(options.autostartParameters == "600")
    #expect(options.retain == .seconds(3600) && options.idleExpiry == .seconds(600))
    #expect(options.buffer == ByteCount(bytes: 8 << 20) && options.tailLines == 50)
    #expect(config.rules.map(\.text) == ["read group perf : trace"])
    #expect(
        configurationErrors("x root echo\n[instance x]\nautostart = yes\n")
            == ["pipe.conf:3: autostart applies to shared runs: add 'shared = yes' to [instance x]"])
    #expect(
        configurationErrors("x root echo\n[instance x]\nshared = yes\nparams = 5\n")
            == ["pipe.conf:4: params applies to runs the agent starts itself: add 'autostart = yes'"])
}

/// The README's example configuration (the first block of its
/// "Configuration" section) parses as it is, so it cannot drift from the
/// syntax. Pure syntax: whether its users and programs exist is -C's concern.
@Test func readmeExampleConfigurationParses() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    let section = try #require(text.range(of: "\n## Configuration\n"))
    let open = try #require(text.range(of: "\n```\n", range: section.upperBound..<text.endIndex))
    let close = try #require(text.range(of: "\n```\n", range: open.upperBound..<text.endIndex))
    let example = String(text[open.upperBound..<close.lowerBound]) + "\n"
    let config = try parse([ConfigSource(name: "README.md", text: example)])
    #expect(config.commands.map(\.name) == ["bdev_trace", "rw_syscalls", "viewlog"])
    #expect(config.commands[0].options.sha256?.count == 32)
    #expect(config.limits.reservedGroup == "sudo")
    #expect(config.rules.count >= 4)
}

/// The README's shared-run example (the first block of "Shared runs")
/// parses as it is, command lines included.
@Test func readmeSharedRunExampleParses() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    let section = try #require(text.range(of: "\n## Shared runs, archives and dashboards\n"))
    let open = try #require(text.range(of: "\n```\n", range: section.upperBound..<text.endIndex))
    let close = try #require(text.range(of: "\n```\n", range: open.upperBound..<text.endIndex))
    let example = String(text[open.upperBound..<close.lowerBound]) + "\n"
    let config = try parse([ConfigSource(name: "README.md", text: example)])
    #expect(config.commands.map(\.name) == ["tick", "syslog_watch"])
    #expect(config.commands.allSatisfy { $0.options.shared })
}
