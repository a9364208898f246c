// Test doubles for the planner and the configuration parser: answers from
// tables instead of the machine. The real engine (RE2) and the real facts
// (openat2, /proc, /sys) are tested in PipeSystemTests.
@testable import PipeCore

/// Compiles only alternations of literal words (`sda|sdb`), enough to test
/// everything around patterns without a regex engine; anything else is a
/// PatternError, so a test that needs real pattern syntax fails loudly here
/// and belongs in PipeSystemTests.
struct LiteralPatternEngine: PatternEngine {
    struct Compiled: CompiledPattern {
        let source: String
        let alternatives: Set<String>
        func matchesWhole(_ text: String) -> Bool { alternatives.contains(text) }
    }

    var maximumPatternLength: Int { 1024 }

    func compile(_ pattern: String) throws(PatternError) -> any CompiledPattern {
        let allowed = pattern.unicodeScalars.allSatisfy { ASCII.isLetterOrDigit($0) || $0 == "|" || $0 == "-" }
        guard allowed else { throw PatternError("'\(pattern)' is not a literal alternation (test engine)") }
        return Compiled(source: pattern, alternatives: Set(pattern.split(separator: "|").map(String.init)))
    }
}

let testEngine = LiteralPatternEngine()

/// Facts from tables.
final class TableFacts: LaunchFacts {
    var accounts: [String: RunAccount] = [
        "root": RunAccount(name: "root", uid: 0, gid: 0, groups: [0], home: "/root"),
        "nobody": RunAccount(name: "nobody", uid: 65534, gid: 65534, groups: [65534], home: "/nonexistent"),
    ]
    var programs: [String: String] = [
        "echo": "/bin/echo", "cat": "/bin/cat", "ls": "/bin/ls", "btrace": "/usr/sbin/btrace",
        "tool": "/usr/bin/tool", "seq": "/usr/bin/seq", "perf": "/usr/bin/perf", "awk": "/usr/bin/awk",
    ]
    /// `directory` -> relative text -> resolved path or refusal
    var paths: [String: [String: Result<String, FactRefusal>]] = [:]
    var processes: [Int32: ProcessCredentials] = [
        1: ProcessCredentials(uids: [0, 0, 0, 0], gids: [0, 0, 0, 0]),
        4242: ProcessCredentials(uids: [1001, 1001, 1001, 1001], gids: [1001, 1001, 1001, 1001]),
    ]
    var blockDevices: Set<String> = ["sda", "nvme0n1", "dm-0"]

    func account(named name: String) -> RunAccount? { accounts[name] }

    func resolveProgram(_ program: String) -> Result<String, FactRefusal> {
        if program.hasPrefix("/") { return .success(program) }
        if let path = programs[program] { return .success(path) }
        return .failure(FactRefusal("is not in the PATH"))
    }

    func resolvePath(_ text: String, under directory: String, for client: ClientIdentity) -> Result<String, FactRefusal>
    {
        paths[directory]?[text] ?? .failure(FactRefusal("does not exist under \(directory)"))
    }

    func processCredentials(_ pid: Int32) -> ProcessCredentials? { processes[pid] }

    func blockDeviceExists(_ name: String) -> Bool { blockDevices.contains(name) }
}

/// A configuration from text, or the test fails.
func configuration(_ text: String, file: String = "pipe.conf") throws -> Configuration {
    try Configuration.parse([ConfigSource(name: file, text: text)], engine: testEngine)
}

/// The error lines of a configuration, or [] when it parses.
func configurationErrors(_ text: String, file: String = "pipe.conf") -> [String] {
    do {
        _ = try configuration(text, file: file)
        return []
    } catch {
        return (error as? ConfigurationErrors)?.errors.map(\.description) ?? ["\(error)"]
    }
}

let bobClient = ClientIdentity(
    uid: 1000, gid: 1000, userName: "bob", groupNames: ["bob", "perf"], groupIDs: [1000, 2000])
let rootClient = ClientIdentity(uid: 0, gid: 0, userName: "root", groupNames: ["root"], groupIDs: [0])
