import Foundation
import Testing

extension PipeIntegration {
    /// Shared runs: started through a string metric, read by many contexts
    /// each from its own position, archived by pmlogger, expired and culled.
    @Suite(.serialized)
    struct SharedRunTests {
        init() throws { try TestSetup.prepare() }

        /// Stores PARAMS into pipe.control.start[INSTANCE] with pmval -x and
        /// returns the run's name from the reply pmval then fetches.
        static func start(_ instance: String, _ parameters: String, user: String? = nil) throws -> (
            run: String?, outcome: Outcome
        ) {
            let outcome = try run(
                "pmval", ["-x", parameters, "-i", instance, "-s", "1", "pipe.control.start"],
                user: user, timeout: 20)
            guard let range = outcome.out.range(of: "{\"run\":\"") else { return (nil, outcome) }
            let rest = outcome.out[range.upperBound...]
            return (rest.firstIndex(of: "\"").map { String(rest[..<$0]) }, outcome)
        }

        /// A string metric's value for one run (pminfo -f), or nil.
        static func value(_ metric: String, _ runName: String, user: String? = nil) throws -> String? {
            let outcome = try run("pminfo", ["-f", metric], user: user)
            for line in outcome.out.split(separator: "\n") where line.contains("\"\(runName)\"]") {
                guard let range = line.range(of: "value ") else { continue }
                return String(line[range.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
            }
            return nil
        }

        @Test(.timeLimit(.minutes(1)))
        func aSharedRunOutlivesItsStarterAndEveryReaderGetsEveryLine() throws {
            let (started, outcome) = try Self.start("s_tick", "30", user: "pipetest_a")
            let name = try #require(started, "\(outcome)")
            // pmval has disconnected: the run goes on.
            #expect(try Self.value("pipe.run.status", name) == "running")
            let first = try HostileClient.run(["readrun", name, "0"], user: "pipetest_a")
            let second = try HostileClient.run(["readrun", name, "0"], user: "pipetest_b")
            for reader in [first, second] {
                let fields = HostileClient.fields(reader)
                #expect(fields["lines"] == 30 && fields["missed"] == 0 && fields["end"] == 1, "\(reader)")
            }
            #expect(try eventually { try Self.value("pipe.run.status", name) == "exited" })
            #expect(try Self.value("pipe.run.exitstatus", name) == "0")
            #expect(try Self.value("pipe.run.owner", name) == "pipetest_a")
        }

        /// pipetest_b has a read rule for s_tick; pipetest_c has none and
        /// sees nothing of the run, not even that it exists as a value.
        @Test(.timeLimit(.minutes(1)))
        func onlyReadersTheRulesAllowSeeARun() throws {
            let name = try #require(try Self.start("s_tick", "300", user: "pipetest_a").run)
            #expect(try Self.value("pipe.run.lines", name, user: "pipetest_b") != nil)
            #expect(try Self.value("pipe.run.lines", name, user: "pipetest_c") == nil)
            #expect(try Self.value("pipe.run.text", name, user: "pipetest_c") == nil)
            let refused = try HostileClient.run(["readrun", name, "0"], user: "pipetest_c", timeout: 5)
            #expect(
                HostileClient.fields(refused)["records"] == nil || HostileClient.fields(refused)["records"] == 0,
                "\(refused)")
            // Nor may pipetest_b stop it: only its owner and root.
            let stop = try run("pmval", ["-x", name, "-s", "1", "pipe.control.stop"], user: "pipetest_b", timeout: 10)
            #expect((stop.out + stop.err).contains("No permission"), "\(stop)")
            let ownerStop = try run(
                "pmval", ["-x", name, "-s", "1", "pipe.control.stop"], user: "pipetest_a", timeout: 10)
            #expect(ownerStop.out.contains("{\"stopped\":\"\(name)\"}"), "\(ownerStop)")
            #expect(try eventually { try Self.value("pipe.run.status", name) == "stopped" })
        }

        /// A reader that falls behind the buffer gets the exact number of
        /// lines it missed, counted in pipe.run.dropped; the command was
        /// never slowed. A reader arriving after the lines left is told
        /// where it starts, and that is nobody's loss.
        @Test(.timeLimit(.minutes(1)))
        func aReaderThatFallsBehindGetsTheExactMissedCount() throws {
            let name = try #require(try Self.start("s_later", "", user: "pipetest_a").run)
            // Follows from before the first line (the command sleeps 1 s), then
            // stops reading for 3 s while 200,000 lines pass a 64 KiB buffer.
            let reader = try HostileClient.run(["readrun", name, "3"], user: "pipetest_a")
            let fields = HostileClient.fields(reader)
            #expect(fields["end"] == 1, "\(reader)")
            #expect(
                (fields["missed"] ?? 0) > 0 && (fields["missed"] ?? 0) + (fields["lines"] ?? 0) == 200_000, "\(reader)")
            let dropped = Int(try Self.value("pipe.run.dropped", name, user: "pipetest_a") ?? "") ?? -1
            #expect(dropped == fields["missed"], "pipe.run.dropped \(dropped)")

            let late = HostileClient.fields(try HostileClient.run(["readrun", name, "0"], user: "pipetest_a"))
            #expect(late["missed"] == fields["missed"], "the late reader is told where it starts: \(late)")
            let droppedAfter = Int(try Self.value("pipe.run.dropped", name, user: "pipetest_a") ?? "") ?? -1
            #expect(droppedAfter == dropped, "a reader that was not there lost nothing")
        }

        @Test(.timeLimit(.minutes(1)))
        func aRunNobodyReadsExpiresAndAFinishedRunIsCulledAfterItsRetainTime() throws {
            let idle = try #require(try Self.start("s_idle", "", user: "pipetest_a").run)
            #expect(try eventually(timeout: 8) { try Self.value("pipe.run.status", idle) == "stopped" })
            let tick = try #require(try Self.start("s_tick", "2", user: "pipetest_a").run)
            #expect(try eventually { try Self.value("pipe.run.status", tick) == "exited" })
            // Stopping it now changes nothing and says so; it stays "exited".
            let late = try run("pmpipe", ["--stop", tick], user: "pipetest_a", timeout: 30)
            #expect(late.status == 0, "\(late)")
            #expect(late.err.contains("\(tick) had already finished"), "\(late)")
            let statusAfter = try Self.value("pipe.run.status", tick)
            #expect(statusAfter == "exited" || statusAfter == nil, "retain = 3s may have culled it")
            #expect(try eventually(timeout: 8) { try Self.value("pipe.run.status", tick) == nil }, "retain = 3s")
            let after = try Self.start("s_tick", "1", user: "pipetest_a").run
            #expect(after != nil && after != tick, "run names are never reused")
        }

        /// One user starts more short shared runs than max_per_user (8 by
        /// default): each finished run would keep its buffer for its whole
        /// retain time, so only the newest 8 finished runs of that user stay.
        @Test(.timeLimit(.minutes(2)))
        func finishedRunsOfOneUserAreBoundedByMaxPerUser() throws {
            var names: [String] = []
            for _ in 1...11 {
                names.append(try #require(try Self.start("s_fast", "10", user: "pipetest_a").run))
                // Each finishes at once; wait, so the next one is admitted.
                #expect(
                    try eventually {
                        let status = try Self.value("pipe.run.status", names.last!)
                        return status == "exited" || status == nil
                    })
            }
            let listed = try run("pminfo", ["-f", "pipe.run.status"]).out
            let kept = names.filter { listed.contains("\"\($0)\"]") }
            #expect(kept.count <= 8, "\(kept)")
            #expect(kept.contains(names.last!), "the newest finished run stays")
            #expect(!kept.contains(names[0]) && !kept.contains(names[2]), "the oldest finished runs go early")
            #expect(Agent.log(since: max(0, Agent.logSize() - 20000)).contains("culled before its retain time"))
        }

        /// pipe.run.text: each context gets the lines since its previous
        /// fetch; a reload keeps runs and positions.
        @Test(.timeLimit(.minutes(1)))
        func textFollowsEachContextAcrossAReload() throws {
            let name = try #require(try Self.start("s_tick", "40", user: "pipetest_a").run)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: file) }
            // One pmval, so one context, reading across the reload.
            let reader = try launch(
                "sh", ["-c", "pmval -t 0.5 -s 14 -i \(name) pipe.run.text > \(file)"], user: "pipetest_a")
            Thread.sleep(forTimeInterval: 2)
            try Agent.reload()
            #expect(waitForExit(reader, timeout: 20))
            let text = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").replacingOccurrences(
                of: name, with: "")
            // Every tick once: pmval prints each fetch's new lines.
            let ticks = text.components(separatedBy: "tick").count - 1
            #expect(ticks == 40, "\(text)")
            for tick in 0..<40 {
                #expect(text.contains("tick\(tick)\n") || text.contains("tick\(tick)\""), "tick\(tick)")
            }
        }

        /// An autostart command taken out of the configuration stops; put
        /// back, it starts again at once (no backoff left from before).
        @Test(.timeLimit(.minutes(1)))
        func anAutostartCommandTakenOutAndPutBackStartsAgain() throws {
            let dropIn = TestSetup.DropIn("autostart")
            let text = """
                s_again  nobody  sleep 600
                [instance s_again]
                shared = yes
                autostart = yes
                """
            defer { dropIn.remove() }
            func running() throws -> [String] {
                try run("pminfo", ["-f", "pipe.run.status"]).out.split(separator: "\n")
                    .filter { $0.contains("\"s_again.") && $0.hasSuffix("\"running\"") }.map(String.init)
            }
            try dropIn.install(text, expecting: "s_again")
            #expect(try eventually { try running().count == 1 })
            dropIn.remove()
            #expect(try eventually { try running().isEmpty }, "the run stops with its configuration")
            try dropIn.install(text, expecting: "s_again")
            #expect(try eventually(timeout: 3) { try running().count == 1 }, "it starts again")
        }

        /// pmlogger, as Debian runs it (user pcp, through local:), archives
        /// an autostart run: every line once, in order.  Its configuration
        /// comes from pmlogconf and the group file ./Install put below
        /// $PCP_VAR_DIR/config/pmlogconf, as a sysadmin's would.
        @Test(.timeLimit(.minutes(1)))
        func pmloggerArchivesAnAutostartRunLineByLine() throws {
            let directory = "/tmp/pmdapipe-archive-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let account = try #require(getpwnam("pcp"))
            chown(directory, account.pointee.pw_uid, account.pointee.pw_gid)
            // An autostart run of its own: running all the time, it would keep
            // the agent from ever being idle in the other tests.
            let dropIn = TestSetup.DropIn("autostart")
            try dropIn.install(
                """
                s_auto  nobody  sh -c 'i=0; while :; do echo sauto$i; i=$((i+1)); sleep 0.05; done'
                [instance s_auto]
                shared = yes
                autostart = yes
                [access]
                read user pcp : s_auto
                """, expecting: "s_auto")
            defer { dropIn.remove() }
            let groups = Integration.varDir + "/config/pmlogconf/pipe"
            let conf = try run(
                "pmlogconf", ["-c", "-q", "-h", "local:", "-d", groups, directory + "/config"], timeout: 30)
            #expect(conf.status == 0, "\(conf)")
            let config = try String(contentsOfFile: directory + "/config", encoding: .utf8)
            #expect(config.contains("pipe.run.records") && config.contains("on 1 second"), "\(config)")
            // The autostart run now going (earlier tests' reloads may have left
            // finished ones, retained and archived too).
            let runs = try run("pminfo", ["-f", "pipe.run.status"], user: "pcp").out
            let running = runs.split(separator: "\n").filter { $0.contains("\"s_auto.") && $0.hasSuffix("\"running\"") }
            let name = try #require(
                running.first.flatMap { line in
                    line.split(separator: "\"").first { $0.hasPrefix("s_auto.") }.map(String.init)
                }, "no running s_auto run: \(runs)")
            let logger = try run(
                "pmlogger",
                [
                    "-c", directory + "/config", "-T", "5sec", "-l", directory + "/log",
                    directory + "/archive",
                ], user: "pcp", timeout: 30)
            #expect(logger.status == 0, "\(logger)")
            let replay = try run(
                "pmevent", ["-a", directory + "/archive", "-i", name, "pipe.run.records"], timeout: 30)
            let lines = replay.out.split(separator: "\n").filter { $0.contains("pipe.line \"sauto") }
                .map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.count > 50, "\(replay.out.prefix(2000))")
            let numbers = lines.compactMap { Int($0.dropFirst("pipe.line \"sauto".count).dropLast()) }
            let first = numbers.first ?? 0
            let gap = zip(numbers, numbers.dropFirst()).first { $1 != $0 + 1 }
            #expect(
                gap == nil && numbers.count == lines.count,
                "every line once, in order: \(numbers.count) lines from sauto\(first), first break at \(String(describing: gap))"
            )
        }

    }

    /// Shared runs through pmproxy's REST API, as a dashboard uses them.
    @Suite(.serialized, .saslLogins(for: ["pipetest_a"]))
    struct SharedRunRESTTests {
        init() throws { try TestSetup.prepare() }

        /// pmproxy's anonymous local: context carries the pcp account: it
        /// starts nothing; with HTTP Basic auth (SASL) a user starts, reads
        /// and stops a run through the REST API.
        @Test(.timeLimit(.minutes(2)))
        func dashboardsThroughPmproxyStartReadAndStopRuns() throws {
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            let base = proxy.baseURL
            func context(_ hostspec: String, user: String? = nil) throws -> Int {
                let response = try HTTP.get(
                    "\(base)/pmapi/context?hostspec=\(hostspec)&polltimeout=30",
                    user: user, password: user.map { _ in SASL.password })
                let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
                return try #require(json?["context"] as? Int, "\(response.body)")
            }
            // pipe.control.launch: pmproxy cannot store a string into one
            // instance (pipe.control.start[cmd]), only into a metric without any.
            let anonymous = try context("local:")
            let refused = try HTTP.get("\(base)/pmapi/\(anonymous)/store?name=pipe.control.launch&value=s_tick%203")
            #expect(refused.body.contains("No permission"), "\(refused.body)")
            let why = try HTTP.get("\(base)/pmapi/\(anonymous)/fetch?names=pipe.control.launch")
            #expect(why.body.contains("a PCP daemon's account"), "\(why.body)")
            let user = try context("localhost", user: "pipetest_a")
            func get(_ path: String) throws -> String {
                try HTTP.get("\(base)/pmapi/\(user)/\(path)", user: "pipetest_a", password: SASL.password).body
            }
            let stored = try get("store?name=pipe.control.launch&value=s_tick%2030")
            #expect(stored.contains("\"success\":true"), "\(stored)")
            let reply = try get("fetch?names=pipe.control.launch")
            let name = try #require(
                reply.range(of: "s_tick\\.[0-9]+", options: .regularExpression).map { String(reply[$0]) },
                "\(reply)")
            var text = ""
            for _ in 0..<10 where !text.contains("tick5") {
                text += try get("fetch?names=pipe.run.text")
                Thread.sleep(forTimeInterval: 0.3)
            }
            #expect(text.contains("tick0") && text.contains("tick5"), "\(text)")
            let stop = try get("store?name=pipe.control.stop&value=\(name)")
            #expect(stop.contains("\"success\":true"), "\(stop)")
            #expect(try eventually { try get("fetch?names=pipe.run.status").contains("stopped") })
        }
    }
}
