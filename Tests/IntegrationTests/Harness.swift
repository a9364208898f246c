import Foundation
import Testing

/// Integration tests run against the real thing: the pmcd of this machine with
/// the agent installed from this tree (scripts/test runs ./Install first),
/// PCP's own tools, real child processes and real unprivileged users.
///
/// They run only when PIPE_INTEGRATION=1 (scripts/test sets it). Then a
/// missing precondition (not root, no pmcd, agent not installed) is a failure,
/// never a skip.
enum Integration {
    static let enabled = ProcessInfo.processInfo.environment["PIPE_INTEGRATION"] == "1"

    static let pmdasDir = pcpConfig("PCP_PMDAS_DIR", default: "/var/lib/pcp/pmdas")
    static let sysconfDir = pcpConfig("PCP_SYSCONF_DIR", default: "/etc/pcp")
    static let logDir = pcpConfig("PCP_LOG_DIR", default: "/var/log/pcp")
    static let binadmDir = pcpConfig("PCP_BINADM_DIR", default: "/usr/lib/pcp/bin")
    static let varDir = pcpConfig("PCP_VAR_DIR", default: "/var/lib/pcp")
    static let runDir = pcpConfig("PCP_RUN_DIR", default: "/run/pcp")
    static let dropInDir = sysconfDir + "/pipe.conf.d"
    static let testConfigPath = dropInDir + "/zz-pmdapipe-tests.conf"
    static let agentLog = logDir + "/pmcd/pipe.log"

    private static func pcpConfig(_ name: String, default fallback: String) -> String {
        guard let text = try? String(contentsOfFile: "/etc/pcp.conf", encoding: .utf8) else { return fallback }
        for line in text.split(separator: "\n") where line.hasPrefix(name + "=") {
            return String(line.dropFirst(name.count + 1))
        }
        return fallback
    }
}

/// The result of running a program to completion.
struct Outcome: CustomStringConvertible {
    var status: Int32
    var stdout: Data
    var stderr: Data
    var timedOut: Bool

    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
    var description: String {
        "status \(status)\(timedOut ? " (timed out)" : "")\nstdout: \(out.prefix(2000))\nstderr: \(err.prefix(2000))"
    }
}

/// Runs a program and waits for it, bounded by `timeout` (then SIGKILL).
/// `user` runs it as that unprivileged user through setpriv, with the user's groups.
@discardableResult
func run(
    _ program: String, _ arguments: [String], user: String? = nil, timeout: Double = 60,
    environment: [String: String]? = nil, input: String? = nil
) throws -> Outcome {
    let process = Process()
    if let user {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = try setprivArguments(user) + [program] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : try which(program))
        process.arguments = arguments
    }
    if let environment { process.environment = environment }
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("it-out-\(UUID().uuidString)")
    let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("it-err-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    FileManager.default.createFile(atPath: errFile.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outFile)
        try? FileManager.default.removeItem(at: errFile)
    }
    let outHandle = try FileHandle(forWritingTo: outFile)
    let errHandle = try FileHandle(forWritingTo: errFile)
    process.standardOutput = outHandle
    process.standardError = errHandle
    let inputPipe = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
    try process.run()
    if let input {
        inputPipe.fileHandleForWriting.write(Data(input.utf8))
        try inputPipe.fileHandleForWriting.close()
    }
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
        }
        usleep(10_000)
    }
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    return Outcome(
        status: process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus
            : process.terminationStatus,
        stdout: try Data(contentsOf: outFile), stderr: try Data(contentsOf: errFile),
        timedOut: timedOut)
}

/// Starts a program without waiting (for clients that are killed mid-run).
func launch(_ program: String, _ arguments: [String], user: String? = nil) throws -> Process {
    let process = Process()
    if let user {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = try setprivArguments(user) + [program] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: try which(program))
        process.arguments = arguments
    }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return process
}

/// setpriv's arguments to become `user` with its primary group (looked up:
/// "nobody"'s group is "nogroup" on Debian) and supplementary groups.
func setprivArguments(_ user: String) throws -> [String] {
    guard let account = getpwnam(user) else { throw HarnessError("no user \(user)") }
    return ["--reuid=\(account.pointee.pw_uid)", "--regid=\(account.pointee.pw_gid)", "--init-groups", "--"]
}

func which(_ program: String) throws -> String {
    for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/lib/pcp/bin"] {
        let path = dir + "/" + program
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw HarnessError("program \(program) not found")
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Waits for a launched process, at most `timeout` seconds; then kills it.
/// Returns whether it exited by itself in time.
@discardableResult
func waitForExit(_ process: Process, timeout: Double = 15) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    guard process.isRunning else { return true }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return false
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    repeat {
        if try condition() { return true }
        usleep(50_000)
    } while Date() < deadline
    return try condition()
}

// MARK: - The agent under test

enum Agent {
    /// The pid of the running pmdapipe (pmcd's child). Two of them for more
    /// than a moment (pmcd restarts an agent it dropped) is a failure: an
    /// agent pmcd gave up on must exit, not linger.
    static func pid() throws -> Int32 {
        var pids: [Int32] = []
        _ = try eventually(timeout: 5) {
            pids = try processes().filter { $0.command.hasSuffix("pmdas/pipe/pmdapipe") || $0.comm == "pmdapipe" }
                .filter { $0.state != "Z" }.map(\.pid)
            return pids.count <= 1
        }
        guard pids.count <= 1 else { throw HarnessError("more than one pmdapipe is running: pids \(pids)") }
        guard let pid = pids.first else { throw HarnessError("pmdapipe is not running") }
        return pid
    }

    static func reload() throws {
        let before = try value(of: "pipe.config.reloads") + value(of: "pipe.config.failures")
        kill(try pid(), SIGHUP)
        let done = try eventually(timeout: 10) {
            try value(of: "pipe.config.reloads") + value(of: "pipe.config.failures") > before
        }
        if !done { throw HarnessError("the agent did not reload its configuration") }
    }

    /// A single-valued metric's value as an integer (pminfo -f).
    static func value(of metric: String, instance: String? = nil) throws -> Int {
        let outcome = try run("pminfo", ["-f", metric])
        for line in outcome.out.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let instance {
                guard trimmed.contains("\"\(instance)\"") else { continue }
            }
            if let range = trimmed.range(of: "value ") {
                return Int(trimmed[range.upperBound...].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return 0
    }

    static func openDescriptors() throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid())/fd").count
    }

    /// Resident anonymous memory (heap, stacks): where a leak shows. Total
    /// RSS also counts code pages, which come and go (the agent drops its
    /// clean start-up pages when idle).
    static func anonymousKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid())/status", encoding: .utf8)
        for line in status.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    static func contextSwitches() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid())/status", encoding: .utf8)
        var total = 0
        for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
            total += Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
        }
        return total
    }

    /// Lines of the agent's log written since `offset` bytes.
    static func log(since offset: Int) -> String {
        guard let data = FileManager.default.contents(atPath: Integration.agentLog), data.count > offset else {
            return ""
        }
        return String(decoding: data[offset...], as: UTF8.self)
    }

    static func logSize() -> Int {
        (try? FileManager.default.attributesOfItem(atPath: Integration.agentLog)[.size] as? Int) ?? 0
    }
}

struct ProcessEntry {
    var pid: Int32
    var ppid: Int32
    var pgid: Int32
    var state: String
    var comm: String
    var command: String
    var uid: UInt32
}

/// The process table, from /proc.
func processes() throws -> [ProcessEntry] {
    var entries: [ProcessEntry] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
        guard let pid = Int32(name),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { continue }
        let comm = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 3 else { continue }
        let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let command = String(decoding: cmdline.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
        var uid: UInt32 = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })
        {
            uid = UInt32(line.split(separator: "\t")[1]) ?? 0
        }
        entries.append(
            ProcessEntry(
                pid: pid, ppid: Int32(fields[1]) ?? 0, pgid: Int32(fields[2]) ?? 0,
                state: String(fields[0]), comm: comm, command: command, uid: uid))
    }
    return entries
}

// MARK: - Test configuration and users

/// Installs the integration tests' configuration as a drop-in file and reloads.
enum TestSetup {
    static let users = ["pipetest_a", "pipetest_b", "pipetest_c"]
    static let group = "pipetest_g"

    nonisolated(unsafe) private static var prepared = false

    static func prepare() throws {
        guard !prepared else { return try agentStillRunning() }
        guard getuid() == 0 else { throw HarnessError("integration tests need root") }
        guard (try? run("pminfo", ["-f", "pmcd.version"]).status) == 0 else {
            throw HarnessError("pmcd is not running")
        }
        guard (try? run("pminfo", ["pipe.firehose"]).status) == 0 else {
            throw HarnessError("the pipe agent is not installed (run ./Install)")
        }
        try createUsers()
        try installConfiguration(testConfiguration())
        prepared = true
    }

    /// Every test after the first starts with the agent an earlier test
    /// left. If it is gone, this test fails saying so, and pmcd (SIGHUP)
    /// starts it again so that one dead agent does not fail every suite
    /// after it: the test that lost the agent has failed already, or this
    /// failure points at it in pmcd.log.
    private static func agentStillRunning() throws {
        guard (try? Agent.pid()) == nil else { return }
        try PMCDAccess.reload()
        _ = eventually { (try? Agent.pid()) != nil }
        throw HarnessError(
            "pmdapipe was not running at the start of this test: an earlier test left it dead (see "
                + "\(PMCDAccess.logPath)); pmcd was told to start it again")
    }

    static func createUsers() throws {
        if (try run("getent", ["group", group])).status != 0 {
            try run("groupadd", ["--system", group])
        }
        for user in users where (try run("id", [user])).status != 0 {
            try run("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user])
        }
        // a and b are in the group; c is not.
        try run("usermod", ["-a", "-G", group, "pipetest_a"])
        try run("usermod", ["-a", "-G", group, "pipetest_b"])
    }

    static func installConfiguration(_ text: String) throws {
        try FileManager.default.createDirectory(
            atPath: Integration.dropInDir, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try text.write(toFile: Integration.testConfigPath, atomically: true, encoding: .utf8)
        chmod(Integration.testConfigPath, 0o644)
        try Agent.reload()
    }

    /// A configuration file of a test's own next to the integration tests'
    /// (scripts/test removes every zz-pmdapipe-*.conf after a killed run).
    struct DropIn {
        let path: String

        init(_ name: String) { path = Integration.dropInDir + "/zz-pmdapipe-\(name).conf" }

        /// Writes the file (root's, 0644, as the agent demands) and reloads
        /// the agent; throws with the agent's log if it refused the file.
        func install(_ text: String, expecting instance: String) throws {
            try FileManager.default.createDirectory(
                atPath: Integration.dropInDir, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
            let failures = try Agent.value(of: "pipe.config.failures")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chown(path, 0, 0)
            chmod(path, 0o644)
            try Agent.reload()
            guard try Agent.value(of: "pipe.config.failures") == failures,
                try run("pminfo", ["-f", "pipe.commands"]).out.contains("\"\(instance)\"")
            else {
                remove()
                throw HarnessError(
                    "the agent refused \(path); its log:\n\(Agent.log(since: max(0, Agent.logSize() - 4000)))")
            }
        }

        func remove() {
            guard FileManager.default.fileExists(atPath: path) else { return }
            try? FileManager.default.removeItem(atPath: path)
            try? Agent.reload()
        }
    }

    static func sha256(of path: String) throws -> String {
        let outcome = try run("sha256sum", [path])
        return String(outcome.out.prefix(64))
    }

    static func testConfiguration() throws -> String {
        let echoPath = "/bin/echo"
        return """
            # Instances of the pmdapipe integration tests (removed after the tests).
            t_echo      nobody  echo $0
            t_any       nobody  echo $0
            t_seq       nobody  seq 1 $1
            t_args      nobody  printf '%s\\n' $0
            t_whoami    nobody  id -un
            t_root      root    id -u
            t_secret    root    echo secret
            t_group     nobody  echo group-ok
            t_stderr    nobody  sh -c 'echo out; echo err >&2; echo out2'
            t_exit      nobody  sh -c 'echo bye; exit 3'
            t_nul       nobody  printf 'a\\000b\\nlast-without-newline'
            t_long      nobody  head -c 300000 /dev/zero | tr '\\0' x
            t_crlf      nobody  printf 'one\\r\\ntwo\\r\\n'
            t_exact     nobody  printf 'a\\r\\n\\rb\\000c\\n\\n\\377\\r'; printf 'err\\r\\nlast' >&2
            t_drop      nobody  seq 1 $1
            t_timeout   nobody  sleep 100
            t_fork      nobody  sh -c 'sleep 31415 & sleep 31415 & wait'
            t_trap      nobody  sh -c 'trap "" TERM; while :; do sleep 0.1; done; echo 27182'
            t_sleep     nobody  sleep $1
            t_validate  nobody  echo $1 $2
            t_dash      nobody  echo $1
            t_env       nobody  env
            t_pinned    nobody  \(echoPath) pinned
            t_badpin    nobody  \(echoPath) never
            t_limit     nobody  sleep 30
            t_maxout    nobody  yes
            p_viewlog   root    cat /var/log/$1
            p_lsdir     root    ls /srv/$1
            p_tail      root    tail -n 2 /var/log/$1
            p_catpipe   root    cat /var/log/$1 | head -n 3
            p_sed       root    sed -n "/$1/p" /etc/hostname
            p_awk       root    awk '/$1/' /etc/hostname
            p_awkfield  nobody  awk '{print $2}' /etc/hostname
            p_shc       root    sh -c "ls /srv/$1"
            p_su        root    su -s /bin/sh nobody -c "ls /srv/$1"
            p_loop      root    for f in /var/log/$1; do tail -n 2 $f; done
            p_xargs     root    echo $1 | xargs ls
            p_logpath   root    cat $1
            p_redos     nobody  echo $1
            r_escape    nobody  sh -c 'setsid sleep 3141 & echo started'
            r_escapefd  nobody  sh -c 'setsid sh -c "exec >/dev/null 2>&1 </dev/null; sleep 2718" & echo started'
            r_escape_t  nobody  sh -c 'setsid sleep 1618 & sleep 1618'
            r_unfetched nobody  seq 1 1000000000
            r_bigline   nobody  head -c 20000000 /dev/zero | tr '\\0' x
            r_stream    nobody  sh -c 'i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); sleep 0.01; done'
            r_spew      nobody  sh -c 'seq 1 100000 >&2; i=0; while [ $i -lt 30 ]; do echo late$i >&2; i=$((i+1)); sleep 0.02; done'
            r_crlf      nobody  printf 'one\\r\\ntwo\\rthree\\r\\nlast'
            r_tasks     nobody  sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo waited'
            r_memory    nobody  sh -c 'head -c 200m /dev/zero | tail -c 100m | wc -c'
            r_cpu       nobody  sh -c 'timeout 2 md5sum /dev/zero; times'
            s_tick      nobody  sh -c 'i=0; while [ $i -lt $1 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done'
            s_fast      nobody  seq 1 $1
            s_later     nobody  sh -c 'sleep 1; seq 1 200000'
            s_idle      nobody  sleep 60
            t_mine_root nobody  echo root $1
            t_mine_a    nobody  echo pipetest_a $1
            t_mine_b    nobody  echo pipetest_b $1
            t_mine_c    nobody  echo pipetest_c $1

            [instance t_drop]
            overflow = drop
            queue = 64k
            max_line = 4k

            [instance t_long]
            max_line = 64k

            [instance t_timeout]
            timeout = 1s

            [instance t_trap]
            grace = 1s

            [instance t_validate]
            param 1 = integer 1..10
            param 2 = oneof sda sdb

            [instance t_dash]
            allow_dash = yes
            param 1 = any

            [instance t_any]
            allow_dash = yes
            \((1...20).map { "param \($0) = any" }.joined(separator: "\n"))

            [instance t_pinned]
            sha256 = \(try sha256(of: echoPath))

            [instance t_badpin]
            sha256 = \(String(repeating: "0", count: 64))

            [instance p_logpath]
            param 1 = path under /var/log

            [instance p_redos]
            param 1 = pattern (a|a)*b

            [instance r_escape_t]
            timeout = 2s
            grace = 1s

            [instance r_unfetched]
            idle_timeout = 2s
            queue = 64k
            max_line = 4k

            [instance r_bigline]
            max_line = 8m

            [instance r_tasks]
            tasks = 4

            [instance r_memory]
            memory = 32m

            [instance r_cpu]
            cpu = 10

            [instance r_spew]
            stderr = log

            [instance s_tick]
            param 1 = integer 1..10000
            shared = yes
            retain = 3s

            [instance s_fast]
            param 1 = integer 1..10000000
            shared = yes
            buffer = 64k

            [instance s_later]
            shared = yes
            buffer = 64k

            [instance s_idle]
            shared = yes
            idle_expiry = 2s

            [instance t_limit]
            max_per_user = 1

            [instance t_maxout]
            max_output = 100k

            [access]
            allow user * : t_echo, t_any, t_seq, t_args, t_whoami, t_root, t_stderr, t_exit, t_nul, t_long
            allow user * : t_crlf, t_exact, t_drop, t_timeout, t_fork, t_trap, t_sleep, t_validate, t_dash, t_env
            allow user * : t_pinned, t_badpin, t_limit, t_maxout
            allow user * : p_viewlog, p_lsdir, p_tail, p_catpipe, p_sed, p_awk, p_awkfield, p_shc, p_su, p_loop, p_xargs
            allow user * : p_logpath, p_redos
            allow user * : r_escape, r_escapefd, r_escape_t, r_unfetched, r_bigline, r_stream, r_spew, r_crlf
            allow user * : r_tasks, r_memory, r_cpu
            allow user pipetest_a : s_tick, s_fast, s_later, s_idle
            allow user pipetest_b : s_tick
            read user pipetest_b : s_tick
            disallow user * : t_secret
            allow group \(group) : t_group
            allow user root : t_mine_root
            allow user pipetest_a : t_mine_a
            allow user pipetest_b : t_mine_b
            allow user pipetest_c : t_mine_c
            disallow user * : t_mine_root, t_mine_a, t_mine_b, t_mine_c
            disallow user pipetest_b : t_group
            """
    }
}

/// The parent of every integration suite: they share one agent in pmcd, so
/// they run one at a time, and only when PIPE_INTEGRATION=1.
@Suite(.serialized, .enabled(if: Integration.enabled, "set PIPE_INTEGRATION=1 (scripts/test does)"))
enum PipeIntegration {}
