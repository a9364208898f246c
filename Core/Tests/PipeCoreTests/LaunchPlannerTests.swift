import Testing

@testable import PipeCore

/// The planner decides every request without PCP, root or processes: each
/// refusal, each conversion, the exact plan.
struct LaunchPlannerTests {
    static let text = """
        echo      nobody  echo $0
        two       nobody  echo $1 $2
        trace     root    btrace -w $1 /dev/$2
        viewlog   root    cat $1
        secret    root    cat /etc/shadow
        groupy    nobody  echo group
        solo      nobody  sleep 5
        ghost     nosuch  echo boo
        missing   nobody  no-such-program $1
        shelly    nobody  echo $1 | tr a-z A-Z
        dashy     nobody  tool $1
        anyone    nobody  tool $1
        listed    nobody  tool $1
        [instance trace]
        param 1 = integer 1..60
        param 2 = blockdev
        [instance viewlog]
        param 1 = path under /var/log
        [instance solo]
        max_per_user = 1
        [instance dashy]
        allow_dash = yes
        param 1 = any
        [instance anyone]
        param 1 = any
        [instance listed]
        param 1 = oneof -v -q
        [access]
        allow user * : echo, two, trace, viewlog, solo, ghost, missing, shelly, dashy, anyone, listed
        allow group perf : groupy
        disallow user bob : secret
        """

    let planner: LaunchPlanner
    let facts = TableFacts()

    init() throws {
        planner = LaunchPlanner(configuration: try configuration(Self.text))
        facts.paths["/var/log"] = [
            "syslog": .success("/var/log/syslog"),
            "../../etc/shadow": .failure(FactRefusal("leads out of /var/log")),
        ]
    }

    func plan(
        _ instance: String, _ parameters: String, client: ClientIdentity = bobClient,
        context: LaunchContext = LaunchContext()
    ) -> Result<LaunchPlan, LaunchRefusal> {
        planner.plan(
            instance: instance, parameterBytes: Array(parameters.utf8), client: client,
            context: context, facts: facts)
    }

    func refusal(
        _ instance: String, _ parameters: String, client: ClientIdentity = bobClient,
        context: LaunchContext = LaunchContext()
    ) -> String? {
        if case .failure(let refusal) = plan(instance, parameters, client: client, context: context) {
            return refusal.message
        }
        return nil
    }

    @Test func anAllowedRequestBecomesAnExactPlan() throws {
        let plan = try plan("trace", "+05 sda").get()
        #expect(
            plan.invocation
                == Invocation(
                    program: "/usr/sbin/btrace", arguments: ["btrace", "-w", "5", "/dev/sda"],
                    usesShell: false))
        #expect(plan.parameters == ["5", "sda"])
        #expect(plan.account == RunAccount(name: "root", uid: 0, gid: 0, groups: [0], home: "/root"))
        #expect(
            plan.environment == [
                "PATH=\(LaunchPlanner.fixedPath)", "HOME=/root", "USER=root", "LOGNAME=root",
                "LANG=C.UTF-8", "SHELL=/bin/sh",
            ])
        #expect(plan.decision.allowed)
    }

    @Test func aShellCommandGetsItsParametersAsPositionalArguments() throws {
        let plan = try plan("shelly", "abc").get()
        #expect(plan.invocation.arguments == ["/bin/sh", "-c", "echo \"${1}\" | tr a-z A-Z", "shelly", "abc"])
    }

    @Test func aPathParameterArrivesResolved() throws {
        #expect(try plan("viewlog", "syslog").get().invocation.arguments == ["cat", "/var/log/syslog"])
        #expect(
            refusal("viewlog", "../../etc/shadow")
                == "bad parameters: parameter 1 ('../../etc/shadow') leads out of /var/log")
    }

    /// PCP's QA test 878: "extra parameters (ok)".
    @Test func parametersBeyondTheHighestPlaceholderAreCheckedThenIgnored() throws {
        #expect(try plan("two", "1 two 3").get().invocation.arguments == ["echo", "1", "two"])
        #expect(refusal("two", "1 two 3;") != nil)
        #expect(try plan("echo", "a b c").get().invocation.arguments == ["echo", "a", "b", "c"])
    }

    @Test(arguments: [
        (
            "echo", "1;2",
            "bad parameters: parameter 1 ('1;2') holds other characters than the letters and digits (A-Z, a-z, 0-9) that a parameter without a rule may have; the sysadmin can allow more with 'param 1 = word' or 'pattern REGEX' in [instance echo]"
        ),
        ("two", "one", "bad parameters: this command needs 2 parameters ($1 to $2) but got 1"),
        (
            "echo", "../../etc/shadow",
            "bad parameters: parameter 1 ('../../etc/shadow') holds other characters than the letters and digits (A-Z, a-z, 0-9) that a parameter without a rule may have; the sysadmin can allow more with 'param 1 = path under DIR' in [instance echo]"
        ),
        (
            "echo", "''",
            "bad parameters: parameter 1 ('') is empty, and a parameter must hold at least one letter or digit"
        ),
        ("trace", "61 sda", "bad parameters: parameter 1 ('61') is outside the range 1 to 60"),
        ("trace", "5 sdz", "bad parameters: parameter 2 ('sdz') is not a block device of this machine"),
        (
            "anyone", "-rf",
            "bad parameters: parameter 1 starts with '-', which the command could take as an option, and this command does not allow that"
        ),
        ("secret", "", "permission denied: denied by pipe.conf:31 (disallow user bob : secret)"),
        ("groupy", "", "no permission"),
        ("nonesuch", "", "no command is configured as nonesuch"),
        ("ghost", "", "cannot run the command: its user 'nosuch' does not exist"),
        ("missing", "x", "cannot run the command: program 'no-such-program' is not in the PATH"),
    ])
    func refusalsNameTheParameterAndTheReason(_ instance: String, _ parameters: String, _ message: String) {
        let found = refusal(
            instance, parameters, client: instance == "groupy" ? ClientIdentity(uid: 3000, gid: 3000) : bobClient)
        if message == "no permission" {
            #expect(found == "permission denied: no access rule allows uid 3000 to run groupy")
        } else {
            #expect(found == message)
        }
    }

    @Test func aLeadingDashNeedsAllowDashOrATypeThatListsIt() throws {
        #expect(try plan("dashy", "-rf").get().invocation.arguments == ["tool", "-rf"])
        #expect(try plan("listed", "-v").get().invocation.arguments == ["tool", "-v"])
        #expect(refusal("listed", "-x") == "bad parameters: parameter 1 ('-x') is not one of: -v, -q")
    }

    @Test func aClientWithoutCredentialsStartsNothing() {
        #expect(refusal("echo", "a", client: ClientIdentity()) == LaunchRefusal.noCredentials.message)
    }

    @Test func aPCPDaemonsUnixSocketContextStartsNothingButItsSASLContextMay() throws {
        let pcpUID: UInt32 = 998
        let context = LaunchContext(daemonUIDs: [pcpUID])
        let anonymous = ClientIdentity(uid: pcpUID, gid: pcpUID, userName: "pcp", authentication: .unixSocket(pid: 77))
        #expect(
            refusal("echo", "a", client: anonymous, context: context)
                == LaunchRefusal.daemonWithoutSASL(uid: pcpUID).message)
        let sasl = ClientIdentity(uid: pcpUID, gid: pcpUID, userName: "pcp", authentication: .sasl(user: "pcp"))
        #expect(try plan("echo", "a", client: sasl, context: context).get().parameters == ["a"])
    }

    @Test func limitsAndRunningInstancesRefuseWithTheLimit() {
        var admission = Admission()
        admission.started(instance: "solo", uid: 1000)
        #expect(
            refusal("solo", "", context: LaunchContext(admission: admission))
                == "limit reached: user 1000 already runs solo 1 time (limit 1 per user)")
        #expect(
            refusal("echo", "a", context: LaunchContext(activeInstances: ["echo"]))
                == "echo is already running for this client")
        #expect(refusal("echo", "a", context: LaunchContext(shuttingDown: true)) == "the agent is shutting down")
    }

    @Test func theAssessmentShowsEachStepForExplain() {
        let assessment = planner.assess(
            instance: "trace", parameterBytes: Array("5 sdz".utf8), client: bobClient,
            context: LaunchContext(), facts: facts)
        #expect(assessment.decision?.allowed == true)
        #expect(
            assessment.parameters.map(\.verdict) == [.accepted("5"), .refused("is not a block device of this machine")])
        #expect(assessment.invocation == nil)
    }

    @Test func theReservedGroupSharesRootsReserve() throws {
        let planner = LaunchPlanner(
            configuration: try configuration(
                """
                ls  nobody  ls
                [limits]
                max_running = 4
                reserved_group = perf
                [access]
                allow user * : ls
                """))
        var admission = Admission()
        for uid: UInt32 in [2001, 2002, 2003] { admission.started(instance: "ls", uid: uid) }
        func refusal(_ client: ClientIdentity) -> String? {
            guard
                case .failure(let refusal) = planner.plan(
                    instance: "ls", parameterBytes: [], client: client,
                    context: LaunchContext(admission: admission), facts: facts)
            else { return nil }
            return refusal.message
        }
        #expect(refusal(bobClient) == nil, "bob is in perf")
        let alice = ClientIdentity(uid: 1002, gid: 1002, userName: "alice", groupNames: ["alice"], groupIDs: [1002])
        #expect(refusal(alice)?.contains("kept for root") == true, "\(refusal(alice) ?? "allowed")")
    }

    @Test func anExplanationShowsTheCommandOnlyToAClientTheRulesAllow() throws {
        let text = """
            secret  root  /usr/sbin/tool --key /etc/secret.key $1
            [access]
            allow user bob : secret
            """
        let planner = LaunchPlanner(configuration: try configuration(text))
        func explain(_ client: ClientIdentity) -> String {
            LaunchExplanation(
                planner.assess(
                    instance: "secret", parameterBytes: Array("x".utf8), client: client,
                    context: LaunchContext(), facts: facts)
            ).text
        }
        let mallory = ClientIdentity(
            uid: 1001, gid: 1001, userName: "mallory", groupNames: ["mallory"], groupIDs: [1001])
        let refused = explain(mallory)
        for secret in ["/etc/secret.key", "/usr/sbin/tool", "runs as", "root", "argv", "parameter 1"] {
            #expect(!refused.contains(secret), "a refused client sees '\(secret)': \(refused)")
        }
        #expect(refused.contains("verdict: refused: permission denied"), "\(refused)")
        let anonymous = explain(ClientIdentity())
        #expect(!anonymous.contains("/etc/secret.key"), "\(anonymous)")
        let allowed = explain(bobClient)
        #expect(allowed.contains("command line: /usr/sbin/tool --key /etc/secret.key $1"), "\(allowed)")
        #expect(
            allowed.contains("runs as: root (uid 0, gid 0)") && allowed.hasSuffix("verdict: would run"), "\(allowed)")
    }
}
