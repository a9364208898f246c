import Foundation
import Testing

extension PipeIntegration {
    /// Every integration test shares the one agent in pmcd, so they run one at a time.
    @Suite
    struct AgentTests {
        init() throws { try TestSetup.prepare() }

        // MARK: - PCP's tools see a drop-in replacement

        @Test func pminfoShowsTheMetricsOfPCPsAgentWithTheSamePMIDs() throws {
            let outcome = try run("pminfo", ["-m", "pipe"])
            for (name, pmid) in [
                ("pipe.numclients", "128.0.0"), ("pipe.maxmemory", "128.0.1"),
                ("pipe.commands", "128.0.2"), ("pipe.line", "128.0.3"),
                ("pipe.firehose", "128.0.4"), ("pipe.queue.memused", "128.0.5"),
                ("pipe.queue.count", "128.0.6"), ("pipe.queue.bytes", "128.0.7"),
                ("pipe.queue.numclients", "128.0.8"),
            ] {
                #expect(outcome.out.contains("\(name) PMID: \(pmid)"), "\(name)")
            }
            let desc = try run("pminfo", ["-d", "pipe.firehose", "pipe.commands", "pipe.maxmemory"])
            #expect(desc.out.contains("Data Type: event"))
            #expect(desc.out.contains("InDom: 128.0"))
            #expect(desc.out.contains("Data Type: string"))
            #expect(desc.out.contains("Data Type: 64-bit unsigned int"))
        }

        @Test func everyMetricHasHelpText() throws {
            let outcome = try run("pminfo", ["-tT", "pipe"])
            #expect(outcome.status == 0)
            #expect(!outcome.out.contains("One-line Help: Error"), "\(outcome.out)")
            #expect(outcome.out.contains("Store the parameters into an instance"))
        }

        @Test func pipeCommandsListsTheConfiguredCommandLines() throws {
            let outcome = try run("pminfo", ["-f", "pipe.commands"])
            #expect(
                outcome.out.contains("inst [") && outcome.out.contains("\"t_seq\"] value \"seq 1 $1\""),
                "\(outcome.out)")
        }

        @Test func pmvalWithParametersPrintsTheLinesAndExitsZeroAtTheEnd() throws {
            let outcome = try run(
                "pmval", ["-x", "hello from pmval", "-i", "t_echo", "-t", "0.2", "pipe.firehose"],
                timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out.contains("\"hello from pmval\""), "\(outcome)")
        }

        @Test func pmeventWithParametersShowsRecordsFlagsAndTheEnd() throws {
            let outcome = try run("pmevent", ["-x", "5", "-i", "t_seq", "-t", "0.2", "pipe.firehose"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            for line in 1...5 { #expect(outcome.out.contains("pipe.line \"\(line)\""), "\(outcome)") }
            #expect(outcome.out.contains("(start"), "\(outcome)")
            #expect(outcome.out.contains("end"), "\(outcome)")
            #expect(outcome.out.contains("pipe.exitstatus 0"), "\(outcome)")
        }

        @Test func dbpmdaDescribesFetchesAndListsInstances() throws {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("dbpmda-\(UUID().uuidString).log")
                .path
            let script = """
                open pipe \(Integration.pmdasDir)/pipe/pmdapipe -d 128 -l \(log)
                attr "userid" "65534"
                desc pipe.firehose
                fetch pipe.commands
                instance 128.0
                fetch pipe.maxmemory
                close
                quit

                """
            let outcome = try run("dbpmda", ["-n", "/var/lib/pcp/pmns/root", "-e"], timeout: 30, input: script)
            #expect(outcome.out.contains("Data Type: event"), "\(outcome)")
            #expect(outcome.out.contains("seq 1 $1"), "\(outcome)")
            #expect(outcome.out.contains("t_seq"), "\(outcome)")
            #expect(outcome.out.contains("2097152"), "\(outcome)")
        }

        // MARK: - pmpipe

        @Test func pmpipePrintsExactlyTheCommandsOutputEvenForManyLines() throws {
            let outcome = try run("pmpipe", ["-i", "t_seq", "-x", "200000"], timeout: 120)
            #expect(outcome.status == 0, "\(outcome.err)")
            let expected = (1...200_000).map(String.init).joined(separator: "\n") + "\n"
            #expect(outcome.out == expected, "got \(outcome.stdout.count) bytes")
            #expect(outcome.stderr.isEmpty, "\(outcome.err)")
        }

        @Test func pmpipeExitsWithTheCommandsExitStatus() throws {
            let outcome = try run("pmpipe", ["-i", "t_exit"], timeout: 30)
            #expect(outcome.status == 3, "\(outcome)")
            #expect(outcome.out == "bye\n")
            #expect(try Agent.value(of: "pipe.runs.exitstatus", instance: "t_exit") == 3)
        }

        @Test func stderrLinesAreKeptApartFromStdout() throws {
            let outcome = try run("pmpipe", ["-i", "t_stderr"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out == "out\nout2\n", "\(outcome)")
            #expect(outcome.err.contains("err"), "\(outcome)")
        }

        @Test func linesWithNULBytesAndALastLineWithoutNewlineArriveIntact() throws {
            let outcome = try run("pmpipe", ["-i", "t_nul"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.stdout == Data("a\u{0}b\nlast-without-newline".utf8), "\(Array(outcome.stdout))")
        }

        @Test func overLongLinesAreSplitIntoContinuationRecordsAndReassembled() throws {
            let outcome = try run("pmpipe", ["-i", "t_long"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome.err)")
            // No newline at all: 300000 bytes in pieces of max_line, the last marked noeol.
            #expect(outcome.out == String(repeating: "x", count: 300_000))
            let events = try run("pmevent", ["-i", "t_long", "-x", "", "-t", "0.2", "pipe.firehose"], timeout: 30)
            #expect(events.out.contains("pipe.continued 1"), "\(events.out.prefix(3000))")
            #expect(events.out.contains("pipe.noeol 1"), "\(events.out.suffix(3000))")
        }

        @Test func crlfLineEndsArriveAsWritten() throws {
            let outcome = try run("pmpipe", ["-i", "t_crlf"], timeout: 30)
            #expect(outcome.stdout == Data("one\r\ntwo\r\n".utf8), "\(Array(outcome.stdout))")
        }

        @Test func parametersUpToPmcdsLimitReachTheAgentAndLongerOnesArePmpipesToRefuse() throws {
            // 65479 bytes make a 65536-byte request: pmcd passes it and the agent
            // refuses the parameter, which is no IPC failure.
            let under = try run("pmpipe", ["-i", "t_echo", "-x", String(repeating: "a", count: 65_479)], timeout: 30)
            #expect(under.status == 255, "\(under.err)")
            #expect(!under.err.contains("IPC"), "\(under.err)")
            #expect(under.err.contains("t_echo"), "\(under.err)")
            let over = try run("pmpipe", ["-i", "t_echo", "-x", String(repeating: "a", count: 65_480)], timeout: 30)
            #expect(over.status == 255, "\(over.err)")
            #expect(over.err.contains("more than the 65536 bytes pmcd accepts"), "\(over.err)")
        }

        @Test func stdoutAndStderrAreTheCommandsByteForByte() throws {
            let outcome = try run("pmpipe", ["-i", "t_exact"], timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(
                outcome.stdout == Data([0x61, 0x0D, 0x0A, 0x0D, 0x62, 0x00, 0x63, 0x0A, 0x0A, 0xFF, 0x0D]),
                "\(Array(outcome.stdout))")
            #expect(outcome.stderr == Data("err\r\nlast".utf8), "\(Array(outcome.stderr))")
        }

        @Test func theCommandRunsAsItsConfiguredUserInACleanEnvironment() throws {
            #expect(try run("pmpipe", ["-i", "t_whoami"]).out == "nobody\n")
            #expect(try run("pmpipe", ["-i", "t_root"], user: "pipetest_a").out == "0\n")
            let env = try run("pmpipe", ["-i", "t_env"]).out
            #expect(env.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), "\(env)")
            #expect(env.contains("HOME="), "\(env)")
            #expect(!env.contains("PCP_"), "pmcd's environment leaked: \(env)")
        }

        @Test func twoConcurrentClientsEachGetTheirOwnOutput() throws {
            let group = DispatchGroup()
            nonisolated(unsafe) var results: [Int: Outcome] = [:]
            let lock = NSLock()
            for client in 0..<2 {
                group.enter()
                DispatchQueue.global().async {
                    defer { group.leave() }
                    let outcome = try? run("pmpipe", ["-i", "t_seq", "-x", "\(20_000 + client)"], timeout: 60)
                    lock.lock()
                    results[client] = outcome
                    lock.unlock()
                }
            }
            group.wait()
            for client in 0..<2 {
                let expected = (1...(20_000 + client)).map(String.init).joined(separator: "\n") + "\n"
                #expect(results[client]?.out == expected, "client \(client)")
            }
        }

        @Test func aClientMayRunTheSameCommandAgainAfterItEnded() throws {
            for round in 0..<3 {
                #expect(try run("pmpipe", ["-i", "t_echo", "-x", "round\(round)"]).out == "round\(round)\n")
            }
        }

        @Test func pmpipeListShowsTheConfiguredCommands() throws {
            let outcome = try run("pmpipe", ["--list"])
            #expect(outcome.status == 0)
            #expect(outcome.out.contains("t_seq\tseq 1 $1"), "\(outcome.out)")
        }

        @Test func pmpipeHelpShowsExamples() throws {
            let outcome = try run("pmpipe", ["--help"])
            #expect(outcome.out.contains("pmpipe -i bdev_trace -x '5 sda'"), "\(outcome.out)")
        }

        @Test func pmpipeReportsAnUnknownInstanceInOneSentence() throws {
            let outcome = try run("pmpipe", ["-i", "no_such_thing"])
            #expect(outcome.status == 255)
            #expect(outcome.err.hasPrefix("pmpipe: "))
            #expect(outcome.err.contains("no_such_thing"), "\(outcome.err)")
        }

        // MARK: - Parameters

        @Test func parametersAreNeverSeenByAShell() throws {
            let marker = "/tmp/pmdapipe-pwned-\(UUID().uuidString)"
            let hostile = [
                "$(touch \(marker))", "`touch \(marker)`", "; touch \(marker)", "| touch \(marker)",
                "&& touch \(marker)", "*", "~", "$HOME", "${IFS}", "a'b", "a\"b", "<x", ">\(marker)",
                "x#y", "!", "{a,b}", "[a]", "%", "=",
            ]
            // Each parameter is single-quoted for the client-side splitter; single quotes inside use "".
            let quoted = hostile.map { $0.contains("'") ? "\"\($0)\"" : "'\($0)'" }.joined(separator: " ")
            // A shell command line takes only letters and digits: every one is refused.
            let shell = try run("pmpipe", ["-i", "t_args", "-x", quoted], timeout: 30)
            #expect(shell.status == 255, "\(shell)")
            #expect(shell.err.contains("bad parameters") && shell.err.contains("parameter 1 ("), "\(shell.err)")
            // A command of plain words whose parameters are typed 'any' runs
            // without a shell (execve): echo joins its arguments with spaces.
            let direct = try run("pmpipe", ["-i", "t_any", "-x", quoted], timeout: 30)
            #expect(direct.status == 0, "\(direct)")
            #expect(direct.out == hostile.joined(separator: " ") + "\n", "\(direct.out)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }

        @Test func parametersThatFailValidationAreRefusedWithTheReason() throws {
            #expect(try run("pmpipe", ["-i", "t_validate", "-x", "5 sda"]).out == "5 sda\n")
            let outOfRange = try run("pmpipe", ["-i", "t_validate", "-x", "11 sda"])
            #expect(outOfRange.status == 255)
            #expect(outOfRange.err.contains("parameter 1"), "\(outOfRange.err)")
            let notListed = try run("pmpipe", ["-i", "t_validate", "-x", "5 sdz"])
            #expect(notListed.status == 255)
            #expect(notListed.err.contains("parameter 2"), "\(notListed.err)")
            let tooFew = try run("pmpipe", ["-i", "t_validate", "-x", "5"])
            #expect(tooFew.status == 255)
            #expect(tooFew.err.contains("2"), "\(tooFew.err)")
            let pmval = try run("pmval", ["-x", "99 sda", "-i", "t_validate", "pipe.firehose"], timeout: 10)
            #expect(pmval.out.contains("Bad input") || pmval.err.contains("Bad input"), "\(pmval)")
        }

        @Test func aLeadingDashIsRefusedUnlessTheConfigurationAllowsIt() throws {
            let refused = try run("pmpipe", ["-i", "t_echo", "-x", "-n"])
            #expect(refused.status == 255, "\(refused)")
            #expect(refused.err.contains("-"), "\(refused.err)")
            #expect(try run("pmpipe", ["-i", "t_dash", "-x", "-5"]).out == "-5\n")
        }

        // MARK: - Access

        @Test func anUnprivilegedUserIsDeniedACommandTheRulesForbid() throws {
            let logStart = Agent.logSize()
            let outcome = try run("pmpipe", ["-i", "t_secret"], user: "pipetest_c")
            #expect(outcome.status == 255, "\(outcome)")
            #expect(outcome.err.lowercased().contains("permission denied"), "\(outcome.err)")
            #expect(outcome.out.isEmpty)
            let pmval = try run("pmval", ["-x", "", "-i", "t_secret", "pipe.firehose"], user: "nobody", timeout: 10)
            #expect((pmval.out + pmval.err).contains("No permission"), "\(pmval)")
            #expect(Agent.log(since: logStart).contains("refused"), "the refusal is logged")
        }

        @Test func rootMayRunACommandNoRuleForbidsForRoot() throws {
            // t_secret is disallowed for "user *", which names root too.
            #expect(try run("pmpipe", ["-i", "t_secret"]).status == 255)
            #expect(try run("pmpipe", ["-i", "t_echo", "-x", "rootok"]).out == "rootok\n")
        }

        @Test func groupRulesUseSupplementaryGroupsAndAUserRuleOverridesThem() throws {
            #expect(try run("pmpipe", ["-i", "t_group"], user: "pipetest_a").out == "group-ok\n")
            let memberButNamed = try run("pmpipe", ["-i", "t_group"], user: "pipetest_b")
            #expect(memberButNamed.status == 255, "\(memberButNamed)")
            let notMember = try run("pmpipe", ["-i", "t_group"], user: "pipetest_c")
            #expect(notMember.status == 255, "\(notMember)")
        }

        @Test func aPinnedExecutableRunsOnlyWhileItMatches() throws {
            #expect(try run("pmpipe", ["-i", "t_pinned"]).out == "pinned\n")
            let mismatch = try run("pmpipe", ["-i", "t_badpin"])
            #expect(mismatch.status == 255)
            #expect(mismatch.err.contains("sha256"), "\(mismatch.err)")
            // A reload says so in the log once the worker has hashed it,
            // without anyone asking for the command.
            let offset = Agent.logSize()
            try Agent.reload()
            #expect(
                eventually {
                    Agent.log(since: offset).contains("instance t_badpin: ")
                        && Agent.log(since: offset).contains("does not match its pinned sha256")
                }, "\(Agent.log(since: offset))")
        }

        @Test func aPerUserLimitRefusesASecondRunWithAClearError() throws {
            let first = try launch("pmpipe", ["-i", "t_limit"], user: "pipetest_a")
            defer {
                first.terminate()
                waitForExit(first)
            }
            #expect(try eventually { try Agent.value(of: "pipe.runs.active", instance: "t_limit") == 1 })
            let second = try run("pmpipe", ["-i", "t_limit"], user: "pipetest_a", timeout: 10)
            #expect(second.status == 255, "\(second)")
            #expect(second.err.contains("limit"), "\(second.err)")
        }
    }
}
