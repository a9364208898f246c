import Testing

@testable import PipeClient

#if canImport(Glibc)
    import Glibc
#endif

/// What pmpipe prints for --list, --runs and --explain, the control
/// replies it reads, and its sentences about credentials and time windows.
@Suite struct AnswerFormattingTests {
    // MARK: - --list

    @Test func theListKeepsNameTabCommandFirstAndIndentsTheParameterTypes() {
        let text = CommandListing.format([
            CommandEntry(
                name: "bdev_trace", commandLine: "btrace -w $1 /dev/$2",
                parameterTypes: ["$1 integer 1..60", "$2 pattern (sd[a-z])"]),
            CommandEntry(name: "slabinfo", commandLine: "cat /proc/slabinfo"),
        ])
        #expect(
            text == """
                bdev_trace\tbtrace -w $1 /dev/$2
                    $1 integer 1..60
                    $2 pattern (sd[a-z])
                slabinfo\tcat /proc/slabinfo

                """)
        // What a script reads: the lines that do not start with a blank.
        let firstLines = text.split(separator: "\n").filter { !$0.hasPrefix(" ") }
        #expect(firstLines == ["bdev_trace\tbtrace -w $1 /dev/$2", "slabinfo\tcat /proc/slabinfo"])
    }

    @Test func parameterTypesAreTheLinesOfTheAgentsValue() {
        #expect(CommandListing.parameterTypes(from: "$1 integer 1..60\n$2 alnum") == ["$1 integer 1..60", "$2 alnum"])
        #expect(CommandListing.parameterTypes(from: "") == [])
        #expect(CommandListing.parameterTypes(from: nil) == [])
    }

    // MARK: - --runs

    @Test func theRunTableHasAHeaderAndAlignedColumnsWithTheCommandLast() {
        let text = RunTable.format([
            RunEntry(
                name: "bdev_trace.3", owner: "bob", status: "running", lines: 1234,
                parameters: "'5' 'sda'", command: "btrace -w $1 /dev/$2"),
            RunEntry(
                name: "tick.12", owner: "pmdapipe (autostart)", status: "stopped", exitStatus: 143, lines: 7,
                command: "sh -c 'echo x'"),
        ])
        #expect(
            text == """
                RUN           OWNER                 STATUS         LINES  PARAMS     COMMAND
                bdev_trace.3  bob                   running         1234  '5' 'sda'  btrace -w $1 /dev/$2
                tick.12       pmdapipe (autostart)  stopped (143)      7  -          sh -c 'echo x'

                """)
    }

    /// "could not start" is said once, not followed by the agent's own
    /// "cannot run the command:".
    @Test func aRunThatCouldNotStartIsSaidOnce() {
        let error = PipeClientError.cannotStart(
            instance: "count", reason: "Bad input to pmstore",
            detail: "cannot run the command: count is not configured for shared runs (shared = yes)")
        #expect(
            error.description == "'count' could not start: count is not configured for shared runs (shared = yes)")
        #expect(
            PipeClientError.cannotStart(instance: "x", reason: "No permission", detail: nil).description
                == "'x' could not start: No permission")
    }

    @Test func noRunsIsTheHeaderAlone() {
        #expect(RunTable.format([]) == "RUN  OWNER  STATUS  LINES  PARAMS  COMMAND\n")
    }

    // MARK: - Control replies

    @Test func theAgentsRepliesAreRead() {
        #expect(ControlReply.parse(#"{"run":"tick.3"}"#) == .run("tick.3"))
        #expect(ControlReply.parse(#"{"stopped":"tick.3"}"#) == .stopped("tick.3", alreadyFinished: false))
        #expect(
            ControlReply.parse(#"{"already":"finished","stopped":"tick.3"}"#)
                == .stopped("tick.3", alreadyFinished: true))
        #expect(
            ControlReply.parse(#" { "error" : "no shared run is named \"x\"\n\u00e9\ud83d\ude00" } "#)
                == .error("no shared run is named \"x\"\né😀"))
    }

    @Test func anythingElseIsNoReply() {
        for text in [
            "", "tick.3", "{", #"{"run":}"#, #"{"run":"x""#, #"{"other":"x"}"#, #"{"run":"x"} trailing"#,
            #"{"run":"\q"}"#,
        ] {
            #expect(ControlReply.parse(text) == nil, "\(text)")
        }
    }

    // MARK: - --explain

    @Test func theVerdictDecidesTheExitStatus() {
        let yes = Explanation("command: count\naccess: allowed\nverdict: would run")
        #expect(yes.wouldRun && yes.verdict == "would run")
        let no = Explanation("command: count\nverdict: refused: bad parameters: parameter 1 ('0') is outside\n")
        #expect(!no.wouldRun)
        #expect(no.verdict == "refused: bad parameters: parameter 1 ('0') is outside")
        #expect(!Explanation("command: count").wouldRun)
    }

    // MARK: - Credentials over TCP

    @Test func theAdviceNamesBothRemediesWithTheHost() {
        let advice = HostSpec("pcp://db1.example:44321").credentialsAdvice(
            agentSentence: "permission denied: the client has no credentials (a TCP connection without SASL)")
        #expect(
            advice == "over TCP pmcd passes your identity only after a SASL login: use -h unix: on the agent's "
                + "host, or log in with -h 'pcp://db1.example:44321?username=USER'")
        #expect(
            HostSpec("localhost").credentialsAdvice(agentSentence: nil)?.contains("'pcp://localhost?username=USER'")
                == true)
    }

    @Test(
        arguments: [
            ("db1", "db1"), ("db1.example:44321", "db1.example"),
            ("pcp://db1.example:44321?username=bob", "db1.example"),
            ("pcps://[::1]:44321", "::1"), ("::1", "::1"), ("unix:", nil), ("local:", nil),
            ("unix:/run/pcp/pmcd.socket", nil), ("db1.example:44321,44322", "db1.example"),
            // Through a proxy libpcp resolves the proxy's name: 'db1@proxy1'
            // never resolves, and said so whenever the proxy was down.
            ("db1@proxy1", "proxy1"), ("pcp://db1:44321@proxy1:44322?username=bob", "proxy1"),
            ("db1@[fe80::1]:44322", "fe80::1"),
        ] as [(String, String?)])
    func theNameToResolveHasNoSchemePortOrAttributes(_ spec: String, _ name: String?) {
        #expect(HostSpec(spec).resolvableName == name)
    }

    @Test func onlyAnUnknownNameIsCalledNoSuchHost() {
        // EAI_NONAME and EAI_NODATA: no such name. EAI_AGAIN (the DNS server
        // did not answer), EAI_FAIL, EAI_MEMORY, EAI_SYSTEM: nothing is known
        // about the name, and the message must not say it does not exist.
        #expect(HostSpec.nameIsUnknown(getaddrinfoStatus: EAI_NONAME))
        #expect(HostSpec.nameIsUnknown(getaddrinfoStatus: -5))
        for status in [0, EAI_AGAIN, EAI_FAIL, EAI_MEMORY, EAI_SYSTEM] {
            #expect(!HostSpec.nameIsUnknown(getaddrinfoStatus: status), "status \(status)")
        }
    }

    @Test func aHostNameThatDoesNotResolveIsSaidSo() {
        #expect(
            PipeClientError.unknownHost(host: "pcp://nosuch.invalid", name: "nosuch.invalid").description
                == "cannot connect to pmcd on pcp://nosuch.invalid: no such host ('nosuch.invalid' does not resolve)")
    }

    @Test func noAdviceWhenTheConnectionCarriedCredentials() {
        // A SASL user refused by the rules: the agent's sentence names the rule.
        let sasl = HostSpec("pcp://127.0.0.1?username=bob&password=x")
        #expect(sasl.namesUser)
        #expect(
            sasl.credentialsAdvice(agentSentence: "permission denied: denied by pipe.conf:3 (disallow user bob : x)")
                == nil)
        #expect(sasl.credentialsAdvice(agentSentence: nil) == nil)
        #expect(HostSpec("pcp://h?user=bob").namesUser)
        // The unix socket always carries them.
        #expect(HostSpec("unix:").credentialsAdvice(agentSentence: "the client has no credentials") == nil)
        #expect(HostSpec("local:").credentialsAdvice(agentSentence: nil) == nil)
        #expect(HostSpec("local:").credentialsAdvice(agentSentence: "permission denied: denied by pipe.conf:3") == nil)
        // The agent said who it saw: a rule refused, not a missing login.
        #expect(
            HostSpec("pcp://h").credentialsAdvice(agentSentence: "permission denied: no access rule allows uid 5")
                == nil)
    }

    @Test func localWithoutCredentialsFellBackToTCPAndUnixIsTheRemedy() {
        // libpcp turns local: into a TCP connection when the socket is not
        // there or its queue is full; the agent then refuses it as anonymous.
        let advice = HostSpec("local:").credentialsAdvice(
            agentSentence:
                "permission denied: the client has no credentials (a TCP connection without SASL authentication)")
        #expect(
            advice == "with -h local: libpcp falls back to TCP, which carries no credentials, when pmcd's unix "
                + "socket is missing or does not take the connection; use -h unix:")
    }

    @Test func aRefusalCarriesTheAdviceOnlyWhenThereIsSome() {
        let bare = PipeClientError.permissionDenied(
            instance: "t", detail: "permission denied: denied by rule", advice: nil)
        #expect(bare.description == "permission denied for 't': denied by rule")
        let advised = PipeClientError.permissionDenied(instance: "t", detail: nil, advice: "use -h unix:")
        #expect(advised.description == "permission denied for 't' (use -h unix:)")
    }

    @Test func aClientWithoutCredentialsHearsTheRemediesOnce() {
        let advice = HostSpec("pcp://db1").credentialsAdvice(agentSentence: nil)
        let refusal = PipeClientError.permissionDenied(
            instance: "t",
            detail: "permission denied: the client has no credentials (a TCP connection without SASL "
                + "authentication): connect through pmcd's unix socket, or authenticate with SASL",
            advice: advice)
        #expect(
            refusal.description == "permission denied for 't': the client has no credentials; over TCP pmcd passes "
                + "your identity only after a SASL login: use -h unix: on the agent's host, or log in with "
                + "-h 'pcp://db1?username=USER'")
    }

    // MARK: - Connecting

    @Test func onlyAMissingPmcdIsAskedAbout() {
        #expect(PipeClientError.pmcdMayBeDown(code: -ECONNREFUSED))
        #expect(PipeClientError.pmcdMayBeDown(code: -ENOENT))
        // PM_ERR_PERMISSION and a SASL authentication failure: pmcd answered.
        #expect(!PipeClientError.pmcdMayBeDown(code: -12387))
        #expect(!PipeClientError.pmcdMayBeDown(code: -EACCES))
        #expect(
            PipeClientError.cannotConnect(host: "h", reason: "Connection refused", pmcdMayBeDown: true).description
                == "cannot connect to pmcd on h (is pmcd running?): Connection refused")
        #expect(
            PipeClientError.cannotConnect(
                host: "pcp://h?username=bob", reason: "Authentication - authentication failure",
                pmcdMayBeDown: false
            ).description
                == "cannot connect to pmcd on pcp://h?username=bob: Authentication - authentication failure")
    }

    // MARK: - Time windows and notes

    @Test func pmParseTimeWindowsCaretBecomesOneSentence() {
        #expect(
            ArchiveReplay.oneLine("21:29:99\n      ^ -- unexpected value\n")
                == "unexpected value at '99' in '21:29:99'")
        #expect(ArchiveReplay.oneLine("foo\n^ -- unexpected value\n") == "unexpected value in 'foo'")
        #expect(
            ArchiveReplay.oneLine("start time is after end\n  of archive\n") == "start time is after end of archive")
        #expect(ArchiveReplay.oneLine("") == "")
    }

    @Test func stoppingAFinishedRunSaysSo() {
        #expect(
            Pmpipe.alreadyFinishedNote("tick.3")
                == "tick.3 had already finished: there was nothing to stop (pmpipe --runs shows how it ended)")
    }

    @Test func theDetachNoteSaysHowToComeBackAndHowToStop() {
        #expect(
            Pmpipe.detachNote("tick.3") == "detached from tick.3, which goes on running: "
                + "pmpipe --attach tick.3 follows it again, pmpipe --stop tick.3 stops it")
    }
}
