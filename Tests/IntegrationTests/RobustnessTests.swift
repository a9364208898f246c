import Foundation
import Testing

/// The hostile client (Tools/hostile-client.c), built once with cc against libpcp.
enum HostileClient {
    nonisolated(unsafe) private static var built: String?

    static func path() throws -> String {
        if let built { return built }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Tools/hostile-client.c").path
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-client-\(getpid())").path
        let outcome = try IntegrationTests.run("cc", ["-O2", "-Wall", "-o", binary, source, "-lpcp"])
        guard outcome.status == 0 else { throw HarnessError("cannot build hostile-client: \(outcome)") }
        built = binary
        return binary
    }

    static func run(_ arguments: [String], user: String? = nil, timeout: Double = 120) throws -> Outcome {
        try IntegrationTests.run(try path(), arguments, user: user, timeout: timeout)
    }

    /// `key=value` pairs of the last line of its output.
    static func fields(_ outcome: Outcome) -> [String: Int] {
        var fields: [String: Int] = [:]
        for pair in outcome.out.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = Int(parts[1]) }
        }
        return fields
    }
}

extension PipeIntegration {
    /// No client can crash, stall or exhaust the agent (issue 9's
    /// measurements, repeated against the real agent).
    @Suite(.serialized)
    struct RobustnessTests {
        init() throws { try TestSetup.prepare() }

        /// A fetch naming pipe.firehose three times: every value set carries
        /// the same records, nothing is lost, the agent survives.
        @Test(.timeLimit(.minutes(2)))
        func aRepeatedPMIDInOneFetchGetsOneSnapshotAndLosesNothing() throws {
            let pid = try Agent.pid()
            let outcome = try HostileClient.run(["dupfetch", "t_seq", "200000", "3"])
            let fields = HostileClient.fields(outcome)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(fields["lines"] == 200_000 && fields["missed"] == 0, "\(outcome.out)")
            #expect(fields["mismatches"] == 0 && fields["end"] == 1, "\(outcome.out)")
            #expect(try Agent.pid() == pid, "the agent crashed")
        }

        /// The same with 8 MiB pieces after the agent has been idle (and
        /// given its pooled arrays back).
        @Test(.timeLimit(.minutes(2)))
        func aRepeatedPMIDWithHugeLinesAfterIdleIsAnsweredCorrectly() throws {
            let pid = try Agent.pid()
            Thread.sleep(forTimeInterval: 2.5)
            let outcome = try HostileClient.run(["dupfetch", "r_bigline", "", "8"])
            let fields = HostileClient.fields(outcome)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(fields["lines"] == 3 && fields["mismatches"] == 0 && fields["end"] == 1, "\(outcome.out)")
            #expect(try Agent.pid() == pid, "the agent crashed")
        }

        /// A fetch naming the firehose 160 times (each copy would carry the
        /// same megabytes: pmcd dropped the agent) is refused whole; at most
        /// 8 copies share one batch and lose nothing.
        @Test(.timeLimit(.minutes(2)))
        func aFetchWithManyCopiesOfAMetricIsRefusedAndTheAgentStays() throws {
            let pid = try Agent.pid()
            let many = try HostileClient.run(["dupfetch", "t_seq", "1000000", "160"], user: "pipetest_c")
            #expect(many.status == 1 && many.err.contains("fetch: Result size exceeded"), "\(many)")
            let most = try HostileClient.run(
                ["dupfetch", "t_seq", "300000", "8"], user: "pipetest_c")
            let fields = HostileClient.fields(most)
            #expect(most.status == 0 && fields["lines"] == 300_000 && fields["missed"] == 0, "\(most)")
            #expect(fields["mismatches"] == 0 && fields["end"] == 1, "\(most.out)")
            #expect(try Agent.pid() == pid, "the agent was dropped")
        }

        /// Clients that leave without fetching what their finished runs
        /// wrote: the runs and their output go with them (they stayed for as
        /// long as the agent ran, about 2 MiB a connection).
        @Test(.timeLimit(.minutes(2)))
        func finishedRunsOfClientsThatLeftAreFreed() throws {
            let pid = try Agent.pid()
            Thread.sleep(forTimeInterval: 2.5)
            let before = try Agent.anonymousKilobytes()
            // 32 runs of 20,000 lines: each fits its queue (so it finishes
            // before its client leaves) and holds at least 400 KB.
            for _ in 0..<4 {
                let outcome = try HostileClient.run(["contexts", "t_seq", "20000", "8", "1"], user: "pipetest_c")
                #expect(HostileClient.fields(outcome)["started"] == 8, "\(outcome)")
            }
            Thread.sleep(forTimeInterval: 3)  // the runs go, then the idle trim
            let grown = try Agent.anonymousKilobytes() - before
            #expect(grown < 8 << 10, "the agent kept \(grown) KiB of runs whose clients left")
            #expect(try Agent.pid() == pid)
        }

        /// `setsid sleep &` then exit: the leftover is part of the run and is
        /// stopped with it; nothing outlives the run.
        @Test(.timeLimit(.minutes(1)), arguments: ["r_escape", "r_escapefd"])
        func whatACommandLeavesBehindInANewSessionDiesWithTheRun(_ instance: String) throws {
            let sleeper = instance == "r_escape" ? "sleep 3141" : "sleep 2718"
            let start = Date()
            let outcome = try run("pmpipe", ["-i", instance], user: "pipetest_c", timeout: 30)
            #expect(outcome.status == 0 && outcome.out == "started\n", "\(outcome)")
            #expect(Date().timeIntervalSince(start) < 10, "the run waited for its leftovers")
            #expect(
                try eventually(timeout: 10) { try processes().allSatisfy { !$0.command.contains(sleeper) } },
                "\(sleeper) outlived the run")
            #expect(try eventually { try Agent.value(of: "pipe.runs.active", instance: instance) == 0 })
        }

        /// timeout = 2s holds for everything the command started, setsid'd
        /// or not, and the client learns why.
        @Test(.timeLimit(.minutes(1)))
        func aTimeLimitStopsEveryProcessOfTheRun() throws {
            let start = Date()
            let outcome = try run("pmpipe", ["-i", "r_escape_t"], user: "pipetest_c", timeout: 30)
            let elapsed = Date().timeIntervalSince(start)
            #expect(elapsed >= 1.9 && elapsed < 6, "took \(elapsed) s")
            #expect(outcome.err.contains("time limit 2s reached"), "\(outcome)")
            #expect(try eventually(timeout: 5) { try processes().allSatisfy { !$0.command.contains("sleep 1618") } })
        }

        /// A client that stores and never fetches: its command blocks on the
        /// full queue and is stopped after idle_timeout, giving its slot back.
        @Test(.timeLimit(.minutes(1)))
        func anUnfetchedRunIsStoppedAfterItsIdleTimeout() throws {
            let offset = Agent.logSize()
            let client = try launch(try HostileClient.path(), ["noread", "r_unfetched", "", "20"], user: "pipetest_c")
            defer {
                client.terminate()
                waitForExit(client)
            }
            #expect(
                try eventually(timeout: 3) { try Agent.value(of: "pipe.runs.active", instance: "r_unfetched") == 1 })
            #expect(
                try eventually(timeout: 10) { try Agent.value(of: "pipe.runs.active", instance: "r_unfetched") == 0 },
                "the unfetched run kept its slot")
            #expect(
                Agent.log(since: offset).contains(
                    "stop=\"nothing fetched for 2s while the command waited on a full queue\""),
                "\(Agent.log(since: offset))")
        }

        /// N unfetched runs of a command whose lines are huge cost about N
        /// queues, not N times the longest line on top.
        @Test(.timeLimit(.minutes(2)))
        func memoryUnderUnfetchedRunsStaysNearTheirQueues() throws {
            Thread.sleep(forTimeInterval: 2.5)
            let before = try Agent.anonymousKilobytes()
            var clients: [Process] = []
            defer {
                for client in clients {
                    client.terminate()
                    waitForExit(client)
                }
            }
            for _ in 0..<4 {
                clients.append(
                    try launch(try HostileClient.path(), ["noread", "r_bigline", "", "30"], user: "pipetest_c"))
            }
            #expect(try eventually(timeout: 10) { try Agent.value(of: "pipe.runs.active", instance: "r_bigline") == 4 })
            Thread.sleep(forTimeInterval: 2)
            let growth = try Agent.anonymousKilobytes() - before
            // Each queue is max(-m, 2 x max_line + 4k) = 16 MiB + 4k here.
            let bound = 4 * (16 << 10) * 3 / 2
            #expect(growth < bound, "grew \(growth) kB for 4 runs (bound \(bound) kB)")
        }

        /// Thousands of refused stores with 4 KB parameters, from a user
        /// allowed nothing: the log grows by a few lines.
        @Test(.timeLimit(.minutes(1)))
        func refusalsCannotFloodTheLog() throws {
            let before = Agent.logSize()
            let outcome = try HostileClient.run(["refusals", "t_secret", "3000", "4096"], user: "pipetest_c")
            #expect(HostileClient.fields(outcome)["refused"] == 3000, "\(outcome)")
            let grown = Agent.logSize() - before
            #expect(grown < 64 << 10, "the log grew by \(grown) bytes")
            #expect(
                eventually(timeout: 15) { Agent.log(since: before).contains("more refusals for uid") },
                "the suppressed refusals are counted")
        }

        /// A command's stderr in the log is escaped: no raw control byte.
        /// Unprivileged users together cannot take the last runs: with
        /// max_running = 4, three runs of three users fill the unreserved
        /// ones, a fourth user's request is refused, and root still runs.
        @Test(.timeLimit(.minutes(1)))
        func usersTogetherCannotTakeTheRunsKeptForRoot() throws {
            let dropIn = TestSetup.DropIn("limits")
            try dropIn.install("[limits]\nmax_running = 4\n", expecting: "t_sleep")
            defer { dropIn.remove() }
            var clients: [Process] = []
            defer {
                for client in clients {
                    client.terminate()
                    waitForExit(client)
                }
            }
            for user in TestSetup.users {
                clients.append(try launch("pmpipe", ["-i", "t_sleep", "-x", "30"], user: user))
            }
            #expect(try eventually { try Agent.value(of: "pipe.runs.active", instance: "t_sleep") == 3 })
            let refused = try run("pmpipe", ["-i", "t_echo", "-x", "fourth"], user: "pipetest_a", timeout: 10)
            #expect(refused.status == 255 && refused.err.contains("kept for root"), "\(refused)")
            let root = try run("pmpipe", ["-i", "t_echo", "-x", "root"], timeout: 10)
            #expect(root.status == 0 && root.out == "root\n", "\(root)")
        }

        /// A user trying to exhaust the machine through a command with
        /// cgroup limits: a fork bomb stops at `tasks`, a memory hog at
        /// `memory`, a busy loop gets `cpu` percent of one CPU.
        @Test(.timeLimit(.minutes(1)))
        func cgroupLimitsHoldAgainstForksMemoryAndCPU() throws {
            let forks = try run("pmpipe", ["-i", "r_tasks"], user: "pipetest_c", timeout: 30)
            #expect(forks.err.contains("fork"), "the 5th process was refused: \(forks)")
            let memory = try run("pmpipe", ["-i", "r_memory"], user: "pipetest_c", timeout: 30)
            // Unlimited, this prints 104857600; the kernel's OOM killer ends
            // tail (or the whole pipeline) first.
            #expect(
                memory.out.trimmingCharacters(in: .whitespacesAndNewlines) != "\(100 << 20)",
                "tail held 100 MiB within 32m: \(memory)")
            let cpu = try run("pmpipe", ["-i", "r_cpu"], user: "pipetest_c", timeout: 30)
            // times(1): the shell's user and system time, then its children's.
            let children = cpu.out.split(separator: "\n").last.map { String($0) } ?? ""
            let seconds = children.split(separator: " ").compactMap { field -> Double? in
                guard let m = field.firstIndex(of: "m"), field.hasSuffix("s") else { return nil }
                return (Double(field[..<m]) ?? 0) * 60 + (Double(field[field.index(after: m)...].dropLast()) ?? 0)
            }.reduce(0, +)
            #expect(seconds > 0 && seconds < 0.7, "2 s of md5sum at cpu = 10 used \(seconds) s of CPU: \(cpu)")
        }

        @Test func stderrInTheLogCannotForgeLines() throws {
            let before = Agent.logSize()
            _ = try run("pmpipe", ["-i", "t_any", "-x", "x"], timeout: 10)
            let outcome = try run("pmpipe", ["-i", "r_spew"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            let log = Agent.log(since: before)
            #expect(log.contains("r_spew pid"), "\(log.prefix(500))")
            #expect(!log.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" })
            // 600 kB of stderr become a bounded number of capped lines. How
            // many reads carry the 600 kB depends on the load (13 when busy),
            // so the command then writes 30 lines 20 ms apart: more reads than
            // the agent logs, whatever the timing.
            #expect(log.utf8.count < 32 << 10, "\(log.utf8.count) bytes logged")
            #expect(log.contains("(more output not logged)"), "\(log.suffix(1000))")
        }

        /// A reload that removes a running command: its client still gets
        /// every line and the end record, and then PM_ERR_NOTCONN, which is
        /// how pmval knows to exit.
        @Test(
            .timeLimit(.minutes(1)), arguments: ["pmpipe -i r_stream", "pmval -t 0.1 -x '' -i r_stream pipe.firehose"])
        func aReloadRemovingARunningCommandLetsItsClientFinish(_ command: String) throws {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString)")
                .path
            let client = try launch("sh", ["-c", "\(command) > \(output)"])
            defer { try? FileManager.default.removeItem(atPath: output) }
            #expect(try eventually(timeout: 5) { try Agent.value(of: "pipe.runs.active", instance: "r_stream") == 1 })
            let original = try TestSetup.testConfiguration()
            try TestSetup.installConfiguration(
                original.split(separator: "\n").filter { !$0.hasPrefix("r_stream") }
                    .joined(separator: "\n").replacingOccurrences(of: "r_stream, ", with: ""))
            defer { try? TestSetup.installConfiguration(original) }
            #expect(waitForExit(client, timeout: 20), "the client hung after its command was removed")
            let lines = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if command.hasPrefix("pmpipe") {
                #expect(lines == (0..<200).map { "line\($0)\n" }.joined(), "\(lines.suffix(200))")
            } else {
                #expect(lines.contains("\"line199\""), "\(lines.suffix(300))")
            }
        }

        /// Configuration files: a FIFO makes neither -C nor a reload wait, and
        /// a file reached through a directory another user owns is refused.
        @Test(.timeLimit(.minutes(1)))
        func aFIFOOrAUserOwnedPathInTheConfigurationIsRefusedAtOnce() throws {
            let fifo = Integration.dropInDir + "/zz-pmdapipe-fifo"
            unlink(fifo)
            #expect(mkfifo(fifo, 0o644) == 0)
            defer { unlink(fifo) }
            let start = Date()
            let check = try run("\(Integration.pmdasDir)/pipe/pmdapipe", ["-C"], timeout: 10)
            #expect(!check.timedOut && check.status == 1, "\(check)")
            #expect(check.err.contains("zz-pmdapipe-fifo: not a regular file"), "\(check.err)")
            let failures = try Agent.value(of: "pipe.config.failures")
            kill(try Agent.pid(), SIGHUP)
            #expect(try eventually(timeout: 5) { try Agent.value(of: "pipe.config.failures") > failures })
            #expect(Date().timeIntervalSince(start) < 8)
            unlink(fifo)

            // A symlink into a directory pipetest_a owns.
            let home = "/tmp/pmdapipe-userdir-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(atPath: home) }
            try "u root echo user-owned\n[access]\nallow user * : u\n".write(
                toFile: home + "/x.conf", atomically: true, encoding: .utf8)
            let account = try #require(getpwnam("pipetest_a"))
            chown(home, account.pointee.pw_uid, account.pointee.pw_gid)
            chmod(home + "/x.conf", 0o644)
            let link = Integration.dropInDir + "/zz-pmdapipe-link.conf"
            unlink(link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: home + "/x.conf")
            defer { unlink(link) }
            let linked = try run("\(Integration.pmdasDir)/pipe/pmdapipe", ["-C"], timeout: 10)
            #expect(linked.status == 1 && linked.err.contains("\(home): directory owned by pipetest_a"), "\(linked)")
        }

        /// The agent killed outright (as a crash would) while runs go on,
        /// one of them a shell with children: the runs' main processes die
        /// with it (parent-death signal), pmcd starts a new agent (by itself
        /// or on SIGHUP), and the new agent kills every process the old
        /// one's runs left (their cgroups), so nothing it started runs on
        /// unseen.
        @Test(.timeLimit(.minutes(2)))
        func theNextAgentKillsWhatAKilledAgentsRunsLeft() throws {
            let clients = [
                try launch("pmpipe", ["-i", "t_sleep", "-x", "27182"]),
                try launch("pmpipe", ["-i", "t_fork"], user: "pipetest_c"),
            ]
            func stopClients() {
                for client in clients where client.isRunning {
                    client.terminate()
                    waitForExit(client)
                }
            }
            defer { stopClients() }
            func leftovers() throws -> [ProcessEntry] {
                try processes().filter {
                    $0.comm == "sleep" && ($0.command.contains("27182") || $0.command.contains("31415"))
                        && $0.state != "Z"
                }
            }
            #expect(try eventually { try leftovers().count == 3 }, "\((try? leftovers()) ?? [])")
            let old = try Agent.pid()
            kill(old, SIGKILL)
            // Each run's main process gets a parent-death signal; what it
            // started (t_fork's two sleeps) is left for the next agent.
            #expect(
                try eventually { try leftovers().count == 2 },
                "the runs' main processes die with the agent, their children stay: \((try? leftovers()) ?? [])")
            // pmcd starts an agent that died by itself once it notices
            // (PMCD_RESTART_AGENTS, Debian's default, at most once a
            // minute), else on SIGHUP. pmcd 6.0.3 must not get that SIGHUP
            // while it waits for the new agent's first answer: the
            // interrupted wait leaves the answer in the pipe, pmcd reads it
            // as the reply to its next request and drops the agent
            // ("protocol failure"). So the clients go first (nothing more
            // is forwarded to the agent) and the SIGHUP only if no agent
            // was started.
            stopClients()
            func restarted() -> Bool { (try? Agent.pid()).map { $0 != old } ?? false }
            if !eventually(timeout: 2, restarted) { try PMCDAccess.reload() }
            #expect(eventually(timeout: 20, restarted))
            #expect(try eventually(timeout: 10) { try leftovers().isEmpty }, "\((try? leftovers()) ?? [])")
            let log = Agent.log(since: 0)
            if log.contains("runs tracked by cgroup") {
                // At least t_fork's two sleeps (a main process still exiting may count too).
                #expect(log.contains("processes left in runs' cgroups by an earlier agent"), "\(log)")
            }
            #expect(try run("pmpipe", ["-i", "t_echo", "-x", "again"]).out == "again\n")
            // The killed agent's log, audit lines included, is kept.
            let previous = (try? String(contentsOfFile: Integration.agentLog + ".prev", encoding: .utf8)) ?? ""
            #expect(previous.contains("pmdapipe(\(old)) Info: started:"), "\(previous.suffix(2000))")
        }

        /// The log never grows past log_size: it moves to pipe.log.prev.
        @Test(.timeLimit(.minutes(2)))
        func theLogIsRotatedPastItsSize() throws {
            let original = try TestSetup.testConfiguration()
            try TestSetup.installConfiguration(original + "\n[limits]\nlog_size = 64k\n")
            defer { try? TestSetup.installConfiguration(original) }
            let previous = Integration.agentLog + ".prev"
            try? FileManager.default.removeItem(atPath: previous)
            for _ in 0..<20 { _ = try run("pmpipe", ["-i", "r_spew"], timeout: 30) }
            #expect(FileManager.default.fileExists(atPath: previous), "no pipe.log.prev")
            #expect(Agent.logSize() < 200 << 10, "pipe.log is \(Agent.logSize()) bytes")
            let rotatedAway = (try? String(contentsOfFile: previous, encoding: .utf8)) ?? ""
            #expect(Agent.log(since: 0).contains("log rotated") || rotatedAway.contains("r_spew"))
        }

        /// Stdout as the command wrote it: CR LF, a lone CR, and a last line
        /// without newline come out byte for byte.
        @Test func pmpipeOutputIsByteIdenticalToTheCommands() throws {
            let outcome = try run("pmpipe", ["-i", "r_crlf"], timeout: 20)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(Array(outcome.stdout) == Array("one\r\ntwo\rthree\r\nlast".utf8), "\(Array(outcome.stdout))")
        }
    }
}
