import Foundation
import Testing

// The services around pmcd that remote users go through: SASL logins, a real
// pmproxy, HTTP requests, and a network namespace that plays another host.
// Everything here touches machine-wide state; tests that use it hold the
// agent's suite lock like every integration test, and undo what they did.

extension Integration {
    /// The checkout under test: scripts/test exports it; otherwise found from this file.
    static let sourceRoot: String = {
        if let root = ProcessInfo.processInfo.environment["PIPE_SOURCE_ROOT"], !root.isEmpty { return root }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()
}

/// A Unix account's ids, looked up the way pmcd and the agent do.
struct Account {
    let name: String
    let uid: UInt32
    let gid: UInt32

    init(_ name: String) throws {
        guard let entry = getpwnam(name) else { throw HarnessError("no Unix account \(name)") }
        self.name = name
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
    }
}

// MARK: - SASL

/// pmcd's SASL logins (/etc/sasl2/pmcd.conf, sasldb), made through the very
/// script that `./Install --sasl USER` runs.
enum SASL {
    static var script: String { Integration.sourceRoot + "/scripts/pcp-sasl-user" }
    static let configPath = "/etc/sasl2/pmcd.conf"

    /// One password per test run: an entry left behind by a crash has a password nobody knows.
    static let password = "pw-" + UUID().uuidString.prefix(13).lowercased()

    /// The sasldb file pmcd reads (`sasldb_path:` in pmcd's SASL configuration).
    static var databasePath: String {
        let text = (try? String(contentsOfFile: configPath, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("sasldb_path:") {
            return line.dropFirst("sasldb_path:".count).trimmingCharacters(in: .whitespaces)
        }
        return "/etc/pcp/passwd.db"
    }

    /// Adds `name` (an existing Unix account) as a SASL user, or sets its
    /// password: the password goes to the script's stdin, as a sysadmin's would.
    @discardableResult
    static func ensureUser(name: String, password: String = SASL.password) throws -> Outcome {
        let outcome = try run(script, [name], timeout: 180, input: password + "\n")
        guard outcome.status == 0 else { throw HarnessError("pcp-sasl-user \(name) failed: \(outcome)") }
        return outcome
    }

    @discardableResult
    static func removeUser(name: String) throws -> Outcome {
        let outcome = try run(script, ["--remove", name], timeout: 60)
        guard outcome.status == 0 else { throw HarnessError("pcp-sasl-user --remove \(name) failed: \(outcome)") }
        return outcome
    }

    /// The names in pmcd's sasldb (without the realm).
    static func users() throws -> [String] {
        let outcome = try run("sasldblistusers2", ["-f", databasePath])
        return outcome.out.split(separator: "\n").compactMap { line in
            line.split(separator: "@", maxSplits: 1).first.map(String.init)
        }
    }

    /// A PCP host specification that logs in over TCP (`pcp://HOST?username=U&password=P`).
    static func hostspec(host: String = "127.0.0.1", user: String? = nil, password: String? = nil) -> String {
        var attributes: [String] = []
        if let user { attributes.append("username=\(user)") }
        if let password { attributes.append("password=\(password)") }
        return "pcp://\(host)" + (attributes.isEmpty ? "" : "?" + attributes.joined(separator: "&"))
    }
}

// MARK: - HTTP

/// HTTP requests through Debian's curl. Credentials travel on curl's stdin
/// (`--config -`), never in its arguments.
enum HTTP {
    struct Response: CustomStringConvertible {
        var status: Int
        var body: String

        /// The body as a JSON object, if it is one.
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }

        var description: String { "HTTP \(status): \(body.prefix(2000))" }
    }

    static func get(_ url: String, user: String? = nil, password: String? = nil, timeout: Double = 15) throws
        -> Response
    {
        var config = ""
        if let user { config += "user = \"\(quoted(user)):\(quoted(password ?? ""))\"\n" }
        let outcome = try run(
            "curl",
            [
                "--silent", "--show-error", "--max-time", "\(Int(timeout))",
                "--write-out", "\n%{http_code}", "--config", "-", url,
            ],
            timeout: timeout + 5, input: config)
        guard outcome.status == 0, let split = outcome.out.lastIndex(of: "\n"),
            let status = Int(outcome.out[outcome.out.index(after: split)...])
        else {
            throw HarnessError("curl \(url) failed: \(outcome)")
        }
        return Response(status: status, body: String(outcome.out[..<split]))
    }

    private static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}

// MARK: - pmproxy

/// A real pmproxy on loopback, run as the `pcp` user the way Debian's daemon
/// runs (it drops to pcp itself only in daemon mode; in the foreground it keeps
/// the uid it was started with), with a configuration that needs no
/// key-value server: only the PMAPI REST interface.
final class PMProxy {
    let port: Int
    let directory: String
    let process: Process

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var logPath: String { directory + "/pmproxy.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static let configuration = """
        # pmproxy for pmdapipe's integration tests: REST API (PMWEBAPI) only.
        [pmproxy]
        pcp.enabled = true
        http.enabled = true
        redis.enabled = false
        secure.enabled = false

        [redis]
        enabled = false

        [discover]
        enabled = false

        [pmseries]
        enabled = false

        [pmsearch]
        enabled = false

        [pmwebapi]
        enabled = true

        """

    private init(port: Int, directory: String, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts pmproxy on a free loopback port and waits until its HTTP port answers.
    static func start() throws -> PMProxy {
        let pcp = try Account("pcp")
        var lastError: any Error = HarnessError("pmproxy did not start")
        for _ in 1...3 {  // a free port can be taken between the probe and pmproxy's bind
            let directory = try makeDirectory(owner: pcp)
            let port = try freeLoopbackPort()
            try configuration.write(toFile: directory + "/pmproxy.conf", atomically: true, encoding: .utf8)
            let process = try withSignalsUnblocked {
                try launch(
                    Integration.binadmDir + "/pmproxy",
                    [
                        "-f", "-A", "-p", "\(port)", "-i", "127.0.0.1",
                        "-s", directory + "/pmproxy.socket", "-c", directory + "/pmproxy.conf",
                        "-l", directory + "/pmproxy.log",
                    ],
                    user: "pcp")
            }
            let proxy = PMProxy(port: port, directory: directory, process: process)
            let answering = eventually(timeout: 20) {
                !process.isRunning || ((try? HTTP.get(proxy.baseURL + "/pmapi/context", timeout: 2)) != nil)
            }
            if answering && process.isRunning { return proxy }
            lastError = HarnessError("pmproxy did not answer on port \(port); its log:\n\(proxy.log)")
            proxy.stop()
        }
        throw lastError
    }

    /// pmproxy's log as it was when `stop()` removed it.
    private(set) var finalLog = ""

    /// Stops pmproxy (SIGTERM, then SIGKILL after 10 s) and removes its directory.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            waitForExit(process, timeout: 10)
        }
        finalLog = log
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whether a pmproxy of these tests (one using `directory`) still runs.
    static func anyRunning(directory: String) throws -> Bool {
        try processes().contains { $0.comm == "pmproxy" && $0.command.contains(directory) && $0.state != "Z" }
    }

    /// A child inherits its parent thread's signal mask, and the threads tests
    /// run on (libdispatch's) block SIGTERM and most other signals: pmproxy
    /// started from one would never see the SIGTERM that `stop()` sends.
    private static func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try body()
    }

    private static func makeDirectory(owner: Account) throws -> String {
        var template = Array("/tmp/pmdapipe-pmproxy-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed: errno \(errno)") }
        let path = String(cString: made)
        guard chown(path, owner.uid, owner.gid) == 0 else { throw HarnessError("chown \(path) failed: errno \(errno)") }
        return path
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now (bind to port 0, read it back).
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw HarnessError("bind failed: errno \(errno)") }
        var actual = sockaddr_in()
        var actualLength = length
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0 else { throw HarnessError("getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}

// MARK: - Another host

/// A network namespace joined to this host by a veth pair: a client run in it
/// reaches pmcd from an address that is neither loopback nor this host's own,
/// as a client on another machine would. Traffic never leaves this machine.
final class RemoteHost {
    let namespace = "pipetest_ns"
    /// This host's end (where pmcd listens, on every address) and the other host's address.
    let hostAddress = "198.18.0.1"
    let remoteAddress = "198.18.0.2"
    private let hostLink = "pipetest_h"
    private let remoteLink = "pipetest_r"

    init() throws {
        teardown()  // a namespace left by an interrupted run
        let steps: [[String]] = [
            ["netns", "add", namespace],
            ["link", "add", hostLink, "type", "veth", "peer", "name", remoteLink],
            ["link", "set", remoteLink, "netns", namespace],
            ["addr", "add", hostAddress + "/30", "dev", hostLink],
            ["link", "set", hostLink, "up"],
            ["-n", namespace, "addr", "add", remoteAddress + "/30", "dev", remoteLink],
            ["-n", namespace, "link", "set", remoteLink, "up"],
            ["-n", namespace, "link", "set", "lo", "up"],
        ]
        for step in steps {
            let outcome = try IntegrationTests.run("ip", step)
            if outcome.status != 0 {
                teardown()
                throw HarnessError("ip \(step.joined(separator: " ")) failed: \(outcome)")
            }
        }
    }

    /// Runs a program on the other host (in the namespace, as root).
    func run(_ program: String, _ arguments: [String], timeout: Double = 60) throws -> Outcome {
        try IntegrationTests.run("ip", ["netns", "exec", namespace, try which(program)] + arguments, timeout: timeout)
    }

    func teardown() {
        _ = try? IntegrationTests.run("ip", ["link", "del", hostLink])
        _ = try? IntegrationTests.run("ip", ["netns", "del", namespace])
    }
}

// MARK: - pmcd's host access rules

/// pmcd's access rules for hosts. Tests add theirs to pmcd.conf.access, which
/// pmcd reads together with pmcd.conf's [access] section, and put the file
/// back as it was.
enum PMCDAccess {
    static let configPath = Integration.sysconfDir + "/pmcd/pmcd.conf"
    static let extraPath = configPath + ".access"
    static let logPath = Integration.logDir + "/pmcd/pmcd.log"

    /// The statements of pmcd.conf's [access] section, comments dropped.
    static func accessSection() throws -> [String] {
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        guard let start = text.range(of: "[access]") else { return [] }
        return text[start.upperBound...].split(separator: "\n")
            .map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// Marks the lines tests add, so that scripts/test can remove one left by a killed run.
    static let marker = "# added by pmdapipe's integration tests"

    /// Runs `body` with `statement` added to pmcd's access rules, then restores them.
    static func with<T>(_ statement: String, _ body: () throws -> T) throws -> T {
        let original = FileManager.default.contents(atPath: extraPath)
        var text = original.map { String(decoding: $0, as: UTF8.self) } ?? ""
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        try (text + statement + " " + marker + "\n").write(toFile: extraPath, atomically: true, encoding: .utf8)
        try reload()
        defer {
            if let original {
                _ = FileManager.default.createFile(atPath: extraPath, contents: original)
            } else {
                try? FileManager.default.removeItem(atPath: extraPath)
            }
            try? reload()
        }
        return try body()
    }

    /// SIGHUP to pmcd, then waits for it to print its new host access list.
    static func reload() throws {
        let offset = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        try IntegrationTests.run(Integration.binadmDir + "/pmsignal", ["-a", "-s", "HUP", "pmcd"])
        let reloaded = eventually(timeout: 10) {
            guard let data = FileManager.default.contents(atPath: logPath), data.count > offset else { return false }
            return String(decoding: data[offset...], as: UTF8.self).contains("Host access list")
        }
        if !reloaded { throw HarnessError("pmcd did not reload its access rules (see \(logPath))") }
    }
}

// MARK: - A terminal

/// Runs a shell command on a pseudo-terminal (util-linux `script`) and types
/// `answer` once `prompt` has appeared: what a person does when a program asks
/// for a password. Typing earlier would not do: turning echo off for a
/// password flushes what was typed ahead.
func runOnTerminal(_ command: String, typing answer: String, after prompt: String, timeout: Double = 30) throws
    -> Outcome
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
    process.arguments = ["--quiet", "--return", "--command", command, "/dev/null"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let fd = output.fileHandleForReading.fileDescriptor
    var seen = Data()
    var answered = false
    var buffer = [UInt8](repeating: 0, count: 4096)
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while true {
        if Date() > deadline {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            break
        }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 100) > 0 else { continue }
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        seen.append(contentsOf: buffer[0..<count])
        if !answered, String(decoding: seen, as: UTF8.self).contains(prompt) {
            // libpcp prints "Password: " and only then turns echo off, which
            // discards input typed in between: give it that moment.
            usleep(500_000)
            input.fileHandleForWriting.write(Data((answer + "\n").utf8))
            answered = true
        }
    }
    try? input.fileHandleForWriting.close()
    process.waitUntilExit()
    return Outcome(status: process.terminationStatus, stdout: seen, stderr: Data(), timedOut: timedOut)
}
