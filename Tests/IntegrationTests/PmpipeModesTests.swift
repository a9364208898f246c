import Foundation
import Testing

extension PipeIntegration {
    /// pmpipe's modes besides a private run, against the real agent:
    /// --explain, --list's filtering, shared runs (--shared, detaching,
    /// --attach by the owner and by a reader, --runs, --stop), replaying a
    /// run that a real pmlogger archived (-a, -S, -T), and the advice about
    /// credentials over TCP. The commands come from a drop-in file of this
    /// suite's own, removed when it ends.
    @Suite(.pmpipeModesDropIn)
    struct PmpipeModesTests {
        init() throws { try TestSetup.prepare() }

        // MARK: - --explain

        @Test func explainShowsWhatWouldRunAndExitsZeroWithoutRunningIt() throws {
            let started = try Agent.value(of: "pipe.runs.started", instance: "pp_tick")
            let outcome = try run("pmpipe", ["--explain", "-i", "pp_tick", "-x", "5"], user: "pipetest_a", timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            for line in [
                "command: pp_tick", "runs as: nobody", "through a shell: yes",
                "access: allowed by \(ModesDropIn.path)", "parameter 1 '5': integer 1..1000: accepted",
                "program: /bin/sh", "verdict: would run",
            ] {
                #expect(outcome.out.contains(line), "\(line): \(outcome)")
            }
            #expect(outcome.out.hasSuffix("verdict: would run\n"), "\(outcome)")
            #expect(outcome.err.isEmpty, "\(outcome)")
            #expect(try Agent.value(of: "pipe.runs.started", instance: "pp_tick") == started, "--explain started a run")
        }

        @Test func explainOfARefusedRequestPrintsTheExplanationAndExits255() throws {
            let denied = try run("pmpipe", ["--explain", "-i", "pp_tick", "-x", "5"], user: "pipetest_c", timeout: 30)
            #expect(denied.status == 255, "\(denied)")
            #expect(denied.out.contains("command: pp_tick"), "\(denied)")
            #expect(denied.out.contains("verdict: refused: permission denied"), "\(denied)")
            // Nothing of a command the user may not run: not its command line,
            // account or program (pipe.commands shows none of them either).
            for hidden in ["sh -c", "nobody", "argv", "program:"] {
                #expect(!denied.out.contains(hidden), "a refused user sees '\(hidden)': \(denied)")
            }
            let badParameter = try run(
                "pmpipe", ["--explain", "-i", "pp_tick", "-x", "0"], user: "pipetest_a", timeout: 30)
            #expect(badParameter.status == 255, "\(badParameter)")
            #expect(badParameter.out.contains("parameter 1 '0': integer 1..1000: refused"), "\(badParameter)")
            #expect(badParameter.out.contains("verdict: refused: bad parameters"), "\(badParameter)")
        }

        // MARK: - --list

        @Test func listShowsAnUnprivilegedUserOnlyTheCommandsItMayRunWithTheirTypes() throws {
            let root = try run("pmpipe", ["--list"], timeout: 30)
            let carol = try run("pmpipe", ["--list"], user: "pipetest_c", timeout: 30)
            #expect(root.status == 0 && carol.status == 0, "\(root)\n\(carol)")
            func names(_ outcome: Outcome) -> Set<String> {
                Set(
                    outcome.out.split(separator: "\n").filter { !$0.hasPrefix(" ") }
                        .compactMap { $0.split(separator: "\t").first.map(String.init) })
            }
            let rootNames = names(root)
            let carolNames = names(carol)
            #expect(carolNames.isSubset(of: rootNames))
            #expect(carolNames.count < rootNames.count)
            #expect(carolNames.contains("t_echo"))
            for hidden in ["pp_tick", "pp_exit", "t_secret"] { #expect(!carolNames.contains(hidden), "\(hidden)") }
            // Root's view: the command line after a tab, the types indented below it.
            #expect(root.out.contains("pp_tick\tsh -c 'i=0; while [ $i -lt $1 ]"), "\(root.out)")
            #expect(root.out.contains("\n    $1 integer 1..1000\n"), "\(root.out)")
            #expect(root.out.contains("t_seq\tseq 1 $1\n    $1 alnum\n"), "\(root.out)")
            // A wrong name gets the same list in the error.
            let wrong = try run("pmpipe", ["-i", "pp_nosuch"], user: "pipetest_c", timeout: 30)
            #expect(wrong.status == 255 && wrong.err.contains("(you may run: "), "\(wrong)")
            #expect(wrong.err.contains("t_echo") && !wrong.err.contains("pp_tick"), "\(wrong)")
        }

        // MARK: - Shared runs

        @Test func sharedPrintsExactlyTheCommandsOutputAndExitsWithItsStatus() throws {
            let ticks = try run("pmpipe", ["--shared", "-i", "pp_tick", "-x", "5"], user: "pipetest_a", timeout: 30)
            #expect(ticks.status == 0, "\(ticks)")
            #expect(ticks.out == "tick0\ntick1\ntick2\ntick3\ntick4\n", "\(ticks)")
            #expect(ModesDropIn.runName(ticks.err, of: "pp_tick") != nil, "\(ticks)")
            #expect(ticks.err.split(separator: "\n").count == 1, "\(ticks)")

            let exit = try run("pmpipe", ["--shared", "-i", "pp_exit"], user: "pipetest_a", timeout: 30)
            #expect(exit.status == 3, "\(exit)")
            #expect(exit.stdout == Data("out\nlast".utf8), "\(Array(exit.stdout))")
            #expect(exit.err.hasPrefix("pmpipe: started pp_exit."), "\(exit)")
            #expect(exit.err.contains("\nerr\n"), "\(exit)")
        }

        @Test func sharedRefusesACommandThatIsNotSharedOrNotAllowed() throws {
            let notShared = try run("pmpipe", ["--shared", "-i", "t_echo", "-x", "x"], user: "pipetest_a", timeout: 30)
            #expect(notShared.status == 255, "\(notShared)")
            #expect(notShared.err.contains("not configured for shared runs"), "\(notShared)")
            #expect(!notShared.err.contains("permission denied"), "\(notShared)")
            let denied = try run("pmpipe", ["--shared", "-i", "pp_tick", "-x", "5"], user: "pipetest_c", timeout: 30)
            #expect(denied.status == 255, "\(denied)")
            #expect(denied.err.contains("permission denied for 'pp_tick'"), "\(denied)")
            #expect(!denied.err.contains("-h unix:"), "a unix-socket client needs no advice: \(denied)")
        }

        @Test func aDetachedRunGoesOnAndItsOwnerAndAReaderCanAttachButNobodyElse() throws {
            let owner = try Background(["--shared", "-i", "pp_tick", "-x", "50"], user: "pipetest_a")
            defer { owner.kill() }
            let runName = try owner.waitForRunName(of: "pp_tick")
            #expect(eventually(timeout: 10) { owner.stdout.split(separator: "\n").count >= 5 })
            owner.signal(SIGINT)
            let detached = owner.wait()
            #expect(detached.status == 130, "\(detached)")
            #expect(
                detached.err.contains(
                    "detached from \(runName), which goes on running: pmpipe --attach \(runName) "
                        + "follows it again, pmpipe --stop \(runName) stops it"), "\(detached)")

            let listed = try run("pmpipe", ["--runs"], user: "pipetest_a", timeout: 30)
            let row = listed.out.split(separator: "\n").first { $0.hasPrefix(runName + " ") }
            #expect(row?.contains("pipetest_a") == true && row?.contains("running") == true, "\(listed)")
            #expect(listed.out.hasPrefix("RUN "), "\(listed)")

            let again = try Background(["--attach", runName], user: "pipetest_a")
            let reader = try Background(["--attach", runName], user: "pipetest_b")
            let fromStart = try Background(["--attach", runName, "--from", "start"], user: "pipetest_b")
            defer {
                again.kill()
                reader.kill()
                fromStart.kill()
            }
            let stranger = try run("pmpipe", ["--attach", runName], user: "pipetest_c", timeout: 30)
            #expect(stranger.status == 255, "\(stranger)")
            #expect(stranger.err.contains("you may not read '\(runName)'"), "\(stranger)")

            let all = (0..<50).map { "tick\($0)\n" }
            for (who, attached) in [("owner", again.wait(timeout: 30)), ("reader", reader.wait(timeout: 30))] {
                #expect(attached.status == 0, "\(who): \(attached)")
                // From now: a tail of the run's lines, without what came before attaching.
                let lines = attached.out.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                    .map { String($0) + "\n" }
                #expect(!lines.isEmpty && lines.first != "tick0\n", "\(who): \(attached)")
                #expect(Array(all.suffix(lines.count)) == lines, "\(who): \(attached)")
            }
            let everything = fromStart.wait(timeout: 30)
            #expect(everything.status == 0, "\(everything)")
            #expect(everything.out == all.joined(), "\(everything)")

            let ended = try run("pmpipe", ["--runs"], user: "pipetest_b", timeout: 30)
            let endedRow = ended.out.split(separator: "\n").first { $0.hasPrefix(runName + " ") }
            #expect(endedRow?.contains("exited (0)") == true, "\(ended)")
            let late = try run("pmpipe", ["--attach", runName], user: "pipetest_a", timeout: 30)
            #expect(late.status == 0 && late.out.isEmpty, "\(late)")
            #expect(late.err.contains("had ended before pmpipe attached"), "\(late)")
        }

        @Test func onlyTheOwnerMayStopARunAndItsFollowersThenEnd() throws {
            let owner = try Background(["--shared", "-i", "pp_tick", "-x", "600"], user: "pipetest_a")
            defer { owner.kill() }
            let runName = try owner.waitForRunName(of: "pp_tick")

            let others = try run("pmpipe", ["--runs"], user: "pipetest_c", timeout: 30)
            #expect(others.status == 0 && !others.out.contains(runName), "\(others)")
            let reader = try run("pmpipe", ["--runs"], user: "pipetest_b", timeout: 30)
            #expect(reader.out.contains(runName), "\(reader)")

            let refused = try run("pmpipe", ["--stop", runName], user: "pipetest_b", timeout: 30)
            #expect(refused.status == 255, "\(refused)")
            #expect(
                refused.err
                    == "pmpipe: cannot stop '\(runName)': permission denied: only the user who started \(runName) "
                    + "and root may stop it\n", "\(refused)")
            #expect(owner.isRunning)
            let unknown = try run("pmpipe", ["--stop", "pp_tick.999999"], user: "pipetest_a", timeout: 30)
            #expect(unknown.status == 255 && unknown.err.contains("no shared run is named"), "\(unknown)")

            let stopped = try run("pmpipe", ["--stop", runName], user: "pipetest_a", timeout: 30)
            #expect(stopped.status == 0, "\(stopped)")
            #expect(stopped.out.isEmpty && stopped.err.isEmpty, "\(stopped)")
            let followed = owner.wait(timeout: 30)
            #expect(followed.status == 143, "\(followed)")
            #expect(followed.err.contains("'\(runName)' stopped"), "\(followed)")
        }

        // MARK: - Archives

        @Test func aRunArchivedByPmloggerReplaysExactlyAndAWindowCutsIt() throws {
            let directory = try ModesDropIn.directoryForPCP()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try "log mandatory on 200 msec { pipe.run.records }\n"
                .write(toFile: directory + "/pmlogger.conf", atomically: true, encoding: .utf8)

            let owner = try Background(["--shared", "-i", "pp_tick", "-x", "20"], user: "pipetest_a")
            defer { owner.kill() }
            let runName = try owner.waitForRunName(of: "pp_tick")
            let archive = directory + "/archive"
            let logger = try run(
                "/usr/bin/pmlogger",
                [
                    "-c", directory + "/pmlogger.conf", "-T", "4sec",
                    "-l", directory + "/pmlogger.log", archive,
                ],
                user: "pcp", timeout: 30)
            #expect(
                logger.status == 0,
                "\(logger)\n\((try? String(contentsOfFile: directory + "/pmlogger.log", encoding: .utf8)) ?? "")")
            let live = owner.wait(timeout: 30)
            let all = (0..<20).map { "tick\($0)\n" }.joined()
            #expect(live.status == 0 && live.out == all, "\(live)")

            let replayed = try run("pmpipe", ["-a", archive, "-i", runName], timeout: 30)
            #expect(replayed.status == 0, "\(replayed)")
            #expect(replayed.out == all, "\(replayed)")
            #expect(replayed.err.isEmpty, "\(replayed)")

            // The window: halfway between tick4 and tick5, to halfway between tick12 and tick13.
            let verbose = try run("pmpipe", ["-a", archive, "-i", runName, "--verbose"], timeout: 30)
            let times = verbose.out.split(separator: "\n").compactMap { ModesDropIn.secondsOfDay(String($0)) }
            try #require(times.count == 20, "\(verbose)")
            let start = ModesDropIn.timeOfDay((times[4] + times[5]) / 2)
            let finish = ModesDropIn.timeOfDay((times[12] + times[13]) / 2)
            let window = try run(
                "pmpipe", ["-a", archive, "-i", runName, "-S", "@" + start, "-T", "@" + finish], timeout: 30)
            #expect(window.status == 0, "\(window)")
            #expect(window.out == (5...12).map { "tick\($0)\n" }.joined(), "-S @\(start) -T @\(finish): \(window)")
            let tail = try run("pmpipe", ["-a", archive, "-i", runName, "-S", "@" + finish], timeout: 30)
            #expect(tail.out == (13..<20).map { "tick\($0)\n" }.joined(), "\(tail)")
            #expect(tail.status == 0, "\(tail)")

            let missing = try run("pmpipe", ["-a", archive, "-i", "pp_tick.999999"], timeout: 30)
            #expect(missing.status == 255, "\(missing)")
            #expect(missing.err.contains("holds no run named 'pp_tick.999999'"), "\(missing)")
            let badTime = try run("pmpipe", ["-a", archive, "-i", runName, "-S", "@25:99"], timeout: 30)
            #expect(badTime.status == 255 && badTime.err.hasPrefix("pmpipe: bad time window: "), "\(badTime)")
        }

        // MARK: - Credentials over TCP

        /// SASL logins for pipetest_b, so that a refusal of an authenticated
        /// user can be told from one of a client without credentials.
        @Suite(.saslLogins(for: ["pipetest_b"]))
        struct OverTCP {
            init() throws { try TestSetup.prepare() }

            @Test func aClientWithoutCredentialsIsToldBothRemedies() throws {
                let outcome = try run(
                    "pmpipe", ["-h", "pcp://127.0.0.1", "-i", "t_echo", "-x", "x"],
                    user: "pipetest_a", timeout: 30)
                #expect(outcome.status == 255, "\(outcome)")
                #expect(outcome.err.contains("the client has no credentials"), "\(outcome)")
                #expect(
                    outcome.err.contains(
                        "use -h unix: on the agent's host, or log in with "
                            + "-h 'pcp://127.0.0.1?username=USER'"), "\(outcome)")
                #expect(outcome.err.split(separator: "\n").count == 1, "\(outcome)")
                // The agent shows such a client no commands: pmpipe says why.
                let list = try run("pmpipe", ["-h", "pcp://127.0.0.1", "--list"], user: "pipetest_a", timeout: 30)
                #expect(list.status == 0 && list.out.isEmpty, "\(list)")
                #expect(list.err.contains("no commands to a client without credentials"), "\(list)")
                #expect(list.err.contains("-h 'pcp://127.0.0.1?username=USER'"), "\(list)")
            }

            @Test func aSASLUserRefusedByTheRulesGetsNoAdviceAboutConnections() throws {
                let host = SASL.hostspec(user: "pipetest_b", password: SASL.password)
                let outcome = try run("pmpipe", ["-h", host, "-i", "t_group"], user: "pipetest_b", timeout: 30)
                #expect(outcome.status == 255, "\(outcome)")
                #expect(outcome.err.contains("permission denied for 't_group'"), "\(outcome)")
                #expect(!outcome.err.contains("unix:") && !outcome.err.contains("SASL"), "\(outcome)")
            }
        }
    }
}

// MARK: - The suite's commands

/// The drop-in file with this suite's commands: written (root's, 0644) and
/// the agent reloaded before the suite, removed and reloaded after it.
/// scripts/test removes it too, after a run that was killed.
enum ModesDropIn {
    static let path = Integration.dropInDir + "/zz-pmdapipe-pmpipe.conf"

    static let text = """
        # Commands of pmpipe's mode tests (PmpipeModesTests); removed after them.
        pp_tick  nobody  sh -c 'i=0; while [ $i -lt $1 ]; do echo tick$i; i=$((i+1)); sleep 0.1; done'
        pp_exit  nobody  sh -c 'echo out; echo err >&2; printf last; exit 3'

        [instance pp_tick]
        param 1 = integer 1..1000
        shared = yes
        retain = 2m

        [instance pp_exit]
        shared = yes

        [access]
        allow user pipetest_a : pp_tick, pp_exit
        allow user pipetest_b : pp_tick
        read user pipetest_b : pp_tick
        # pmlogger (Debian runs it as pcp) archives the runs it may read.
        read user pcp : pp_tick

        """

    static func install() throws {
        try FileManager.default.createDirectory(
            atPath: Integration.dropInDir, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        guard chown(path, 0, 0) == 0, chmod(path, 0o644) == 0 else { throw HarnessError("cannot set up \(path)") }
        try Agent.reload()
    }

    static func remove() {
        try? FileManager.default.removeItem(atPath: path)
        try? Agent.reload()
    }

    /// The run named in pmpipe's "pmpipe: started NAME.SEQ" line.
    static func runName(_ stderr: String, of command: String) -> String? {
        for line in stderr.split(separator: "\n") where line.hasPrefix("pmpipe: started \(command).") {
            return String(line.dropFirst("pmpipe: started ".count))
        }
        return nil
    }

    /// A fresh directory the pcp user can write (for pmlogger's archive).
    static func directoryForPCP() throws -> String {
        let pcp = try Account("pcp")
        var template = Array("/tmp/pmdapipe-archive-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed: errno \(errno)") }
        let path = String(cString: made)
        guard chown(path, pcp.uid, pcp.gid) == 0 else { throw HarnessError("chown \(path) failed: errno \(errno)") }
        return path
    }

    /// `14:03:07.123456` at the start of a --verbose line, as seconds of the day.
    static func secondsOfDay(_ line: String) -> Double? {
        guard let time = line.split(separator: " ").first else { return nil }
        let parts = time.split(separator: ":")
        guard parts.count == 3, let h = Double(parts[0]), let m = Double(parts[1]), let s = Double(parts[2]) else {
            return nil
        }
        return h * 3600 + m * 60 + s
    }

    /// Seconds of the day as PCP's `HH:MM:SS.uuuuuu`.
    static func timeOfDay(_ seconds: Double) -> String {
        let micros = Int((seconds * 1_000_000).rounded())
        let whole = micros / 1_000_000
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let fraction = String(micros % 1_000_000)
        return "\(two(whole / 3600)):\(two(whole / 60 % 60)):\(two(whole % 60))."
            + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}

struct PmpipeModesDropIn: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        guard Integration.enabled else { return try await function() }
        try TestSetup.prepare()
        try ModesDropIn.install()
        defer { ModesDropIn.remove() }
        try await function()
    }
}

extension Trait where Self == PmpipeModesDropIn {
    static var pmpipeModesDropIn: Self { PmpipeModesDropIn() }
}

// MARK: - pmpipe in the background

/// pmpipe running in the background as a test user, its stdout and stderr
/// going to files the test can read while it runs. It inherits the test
/// runner's thread's signal mask, which blocks most signals: pmpipe unblocks
/// the ones it handles itself, so SIGINT still reaches it as from a terminal.
final class Background: @unchecked Sendable {
    let process = Process()
    private let outPath: String
    private let errPath: String

    init(_ arguments: [String], user: String) throws {
        let id = UUID().uuidString
        outPath = NSTemporaryDirectory() + "pmpipe-bg-out-\(id)"
        errPath = NSTemporaryDirectory() + "pmpipe-bg-err-\(id)"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = try setprivArguments(user) + [try which("pmpipe")] + arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    func signal(_ number: Int32) { Glibc.kill(process.processIdentifier, number) }

    /// The run named on stderr once pmpipe has started it.
    func waitForRunName(of command: String, timeout: Double = 15) throws -> String {
        var name: String?
        _ = eventually(timeout: timeout) {
            name = ModesDropIn.runName(stderr, of: command)
            return name != nil || !process.isRunning
        }
        guard let name else { throw HarnessError("pmpipe did not start a run of \(command): \(stderr)") }
        return name
    }

    /// Waits for pmpipe to exit (SIGKILL after `timeout`), then its outcome.
    func wait(timeout: Double = 15) -> Outcome {
        let exited = waitForExit(process, timeout: timeout)
        let status =
            process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus
            : process.terminationStatus
        return Outcome(status: status, stdout: Data(stdout.utf8), stderr: Data(stderr.utf8), timedOut: !exited)
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
