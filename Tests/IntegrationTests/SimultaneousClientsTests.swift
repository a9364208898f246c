import Foundation
import Testing

/// Clients started at the same instant, as pmpipe's users and the bench's
/// 100 clients start them.
///
/// pmcd queues 5 pending connections on its unix socket and libpcp's
/// connect does not wait for room: in a burst, connect(2) fails with
/// EAGAIN, `unix:` then fails and `local:` falls back to TCP, which carries
/// no credentials (the agent refuses those clients: "the client has no
/// credentials"). pmpipe waits for room (PipeCore's ConnectPatience) and
/// takes `local:` as `unix:` while the socket is there; the agent pairs each
/// context with the credentials pmcd sent for it.
extension PipeIntegration {
    @Suite(.serialized)
    struct SimultaneousClientsTests {
        init() throws { try TestSetup.prepare() }

        /// 120 clients of four users, released together.
        @Test(.timeLimit(.minutes(3)))
        func everyClientOfABurstIsItselfAndNoOneElse() throws {
            try burst(holdingPmcdFor: nil)
        }

        /// The same while pmcd takes no connection for the first 2.5 s (it
        /// is stopped, as a busy pmcd on a loaded machine is slow): every
        /// client finds the queue full for longer than pmpipe used to wait
        /// (about 1.5 s), and every `local:` client would go over TCP.
        /// PMCD_CONNECT_TIMEOUT (libpcp's connect timeout, which bounds
        /// pmpipe's wait) is 20 s here so that the result does not depend
        /// on how fast this machine drains 120 connections afterwards.
        @Test(.timeLimit(.minutes(3)))
        func aBurstThatFindsPmcdBusyWaitsAndEveryClientIsStillItself() throws {
            try burst(holdingPmcdFor: 2.5, environment: ["PMCD_CONNECT_TIMEOUT": "20"])
        }

        /// One client: who it is, what it asks for, and what it must get.
        struct Client {
            var user: String
            var host: String
            var instance: String
            var token: String
            var ownInstance: Bool
            var process: Process
            var stdout: URL
            var stderr: URL
        }

        /// Each user's own command, which only that user may run
        /// (`disallow user * : t_mine_*` and one `allow user` each).
        static func ownInstance(of user: String) -> String {
            user == "root" ? "t_mine_root" : "t_mine_" + user.dropFirst("pipetest_".count)
        }

        /// 120 pmpipe clients, 30 each of root, pipetest_a, b and c, half of
        /// them through `unix:` (the default), half through `local:`,
        /// released together: 24 of each user's run the command only that
        /// user may run, with a token of their own, and must get exactly
        /// `USER TOKEN` back; 6 ask for the next user's command and must be
        /// refused by the rule, as themselves. None may fail to connect, be
        /// taken for a client without credentials, or be taken for anyone
        /// else; the agent's audit log must show every run and every
        /// refusal under the right user.
        func burst(holdingPmcdFor hold: Double?, environment extra: [String: String] = [:]) throws {
            let original = try TestSetup.testConfiguration()
            // Root is held to max_per_user too: room for all of them at once.
            try TestSetup.installConfiguration(original + "\n[limits]\nmax_running = 512\nmax_per_user = 256\n")
            defer { try? TestSetup.installConfiguration(original) }

            let gate = try Gate()
            defer { gate.remove() }
            let users = ["root"] + TestSetup.users
            let logOffset = Agent.logSize()
            var environment = ProcessInfo.processInfo.environment
            environment.merge(extra) { $1 }
            var clients: [Client] = []
            defer {
                for client in clients where client.process.isRunning { kill(client.process.processIdentifier, SIGKILL) }
                for client in clients {
                    try? FileManager.default.removeItem(at: client.stdout)
                    try? FileManager.default.removeItem(at: client.stderr)
                }
            }
            let pmpipe = try which("pmpipe")
            for round in 0..<30 {
                for (index, user) in users.enumerated() {
                    let own = round < 24
                    let instance =
                        own ? Self.ownInstance(of: user) : Self.ownInstance(of: users[(index + 1) % users.count])
                    let token = "k\(round)x\(index)"
                    let host = round % 2 == 0 ? "unix:" : "local:"
                    let (process, out, err) = try launchCapturing(
                        "flock", ["-s", gate.file, pmpipe, "-h", host, "-i", instance, "-x", token],
                        user: user == "root" ? nil : user, environment: environment)
                    clients.append(
                        Client(
                            user: user, host: host, instance: instance, token: token, ownInstance: own,
                            process: process, stdout: out, stderr: err))
                }
            }
            // Every client waits in flock(1) for the gate, then all go at once.
            let waiting = try eventually(timeout: 30) {
                try processes().filter { $0.comm == "flock" && $0.command.contains(gate.file) }.count == clients.count
            }
            #expect(waiting, "not every client reached the gate")
            if let hold {
                let pmcd = try PmcdHold(seconds: hold)
                defer { pmcd.release() }
                gate.open()
                Thread.sleep(forTimeInterval: hold)
            } else {
                gate.open()
            }
            for client in clients { #expect(waitForExit(client.process, timeout: 90), "a client hung") }

            var failures: [String] = []
            for client in clients {
                let out = String(decoding: (try? Data(contentsOf: client.stdout)) ?? Data(), as: UTF8.self)
                let err = String(decoding: (try? Data(contentsOf: client.stderr)) ?? Data(), as: UTF8.self)
                let status = client.process.terminationStatus
                let who = "\(client.user) asking for \(client.instance) (\(client.token), -h \(client.host))"
                if err.contains("no credentials") || err.contains("cannot connect") {
                    failures.append("\(who): \(err)")
                } else if client.ownInstance {
                    if status != 0 || out != "\(client.user) \(client.token)\n" || !err.isEmpty {
                        failures.append("\(who): status \(status), stdout \(out.debugDescription), stderr \(err)")
                    }
                } else if status != 255 || !out.isEmpty
                    || !err.contains("permission denied for '\(client.instance)': denied by")
                {
                    failures.append(
                        "\(who) was not refused as itself: status \(status), stdout \(out.debugDescription), "
                            + "stderr \(err)")
                }
            }
            #expect(
                failures.isEmpty,
                "\(failures.count) of \(clients.count) clients:\n\(failures.prefix(12).joined(separator: "\n"))")

            // The agent's side: every run started under its client's user,
            // and every refusal logged in full names the refused user.
            let expectedUser = Dictionary(uniqueKeysWithValues: clients.map { ($0.token, $0.user) })
            let log = Agent.log(since: logOffset)
            var started = 0
            for line in log.split(separator: "\n") where line.contains("instance=t_mine_") {
                let fields = Self.fields(of: line)
                guard let token = fields["param1"], let user = expectedUser[token] else { continue }
                #expect(fields["user"] == user && fields["auth"] == "unix", "\(line)")
                if line.contains(" started: ") { started += 1 }
                if line.contains(" refused: ") {
                    #expect(fields["instance"] != Self.ownInstance(of: user), "\(line)")
                }
            }
            #expect(started == clients.filter(\.ownInstance).count, "\(started) runs started in the log")
            #expect(!log.contains("auth=none"), "a client was taken for one without credentials")
        }

        /// `key=value` fields of an audit line (values here are bare words).
        static func fields(of line: Substring) -> [String: String] {
            var fields: [String: String] = [:]
            for word in line.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
    }
}

/// pmcd stopped (SIGSTOP) for a few seconds: it accepts no connection, as
/// when it is busy. A separate process resumes it on time even if the test
/// dies meanwhile; `release()` resumes it at once.
final class PmcdHold {
    let pid: Int32
    private let resumer: Process

    init(seconds: Double) throws {
        let text = try String(contentsOfFile: Integration.runDir + "/pmcd.pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else {
            throw HarnessError("no pmcd pid in \(Integration.runDir)/pmcd.pid")
        }
        self.pid = pid
        resumer = try launch("sh", ["-c", "sleep \(seconds); kill -CONT \(pid)"])
        kill(pid, SIGSTOP)
    }

    func release() {
        kill(pid, SIGCONT)
        waitForExit(resumer, timeout: 10)
    }
}

/// A file lock every client takes shared (`flock -s FILE COMMAND`) while the
/// test holds it exclusively: releasing it starts them all at once.
final class Gate {
    let directory: String
    let file: String
    private let descriptor: Int32

    init() throws {
        directory = "/tmp/pmdapipe-gate-\(UUID().uuidString)"
        // Not world-writable, so protected_regular lets other users open the file.
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o755])
        file = directory + "/gate"
        FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o644])
        descriptor = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0, flock(descriptor, LOCK_EX) == 0 else { throw HarnessError("cannot lock \(file)") }
    }

    func open() { flock(descriptor, LOCK_UN) }

    func remove() {
        close(descriptor)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Starts a program without waiting, its stdout and stderr going to files.
func launchCapturing(
    _ program: String, _ arguments: [String], user: String? = nil,
    environment: [String: String]? = nil
) throws -> (Process, URL, URL) {
    let process = Process()
    if let user {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = try setprivArguments(user) + [try which(program)] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: try which(program))
        process.arguments = arguments
    }
    if let environment { process.environment = environment }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("it-out-\(UUID().uuidString)")
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("it-err-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let outHandle = try FileHandle(forWritingTo: out)
    let errHandle = try FileHandle(forWritingTo: err)
    defer {
        try? outHandle.close()
        try? errHandle.close()
    }
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return (process, out, err)
}
