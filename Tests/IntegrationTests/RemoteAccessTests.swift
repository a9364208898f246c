import Foundation
import Testing

extension PipeIntegration {
    /// Remote users: pmcd over TCP with a SASL password (`./Install --sasl
    /// USER`), pmcd's own host rules, and pmproxy's REST API with HTTP Basic
    /// auth. pipetest_a and pipetest_b get SASL logins for the suite; they are
    /// removed when it ends.
    @Suite(.saslLogins(for: ["pipetest_a", "pipetest_b"]))
    struct RemoteAccessTests {
        init() throws { try TestSetup.prepare() }

        /// `pmval -x PARAMETERS -i INSTANCE pipe.firehose` against `host`.
        private func pmval(_ parameters: String, instance: String, host: String, user: String? = nil) throws -> Outcome
        {
            try run(
                "pmval", ["-h", host, "-x", parameters, "-i", instance, "-t", "0.2", "pipe.firehose"],
                user: user, timeout: 30)
        }

        /// The agent's audit lines about `instance` written since `offset`.
        private func auditLines(since offset: Int, instance: String) -> [String] {
            Agent.log(since: offset).split(separator: "\n").map(String.init)
                .filter { $0.contains(" instance=\(instance) ") }
        }

        /// The fields that name the client in an audit line.
        private func identity(_ account: Account) -> String {
            "uid=\(account.uid) gid=\(account.gid) user=\(account.name) "
        }

        // MARK: - pmcd over TCP with a password

        @Test func pmvalOverTCPWithAPasswordRunsAnAllowedCommandAsTheSASLUser() throws {
            let alice = try Account("pipetest_a")
            let offset = Agent.logSize()
            let outcome = try pmval(
                "hello over sasl", instance: "t_echo",
                host: SASL.hostspec(user: alice.name, password: SASL.password), user: alice.name)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out.contains("pipe.line \"hello over sasl\""), "\(outcome)")
            let lines = auditLines(since: offset, instance: "t_echo")
            #expect(
                lines.contains {
                    $0.contains("started: ") && $0.contains(identity(alice)) && $0.contains("decision=allowed")
                },
                "\(lines)")
        }

        @Test func pmpipeOverTCPWithAPasswordPrintsExactlyTheCommandsOutput() throws {
            let host = SASL.hostspec(user: "pipetest_a", password: SASL.password)
            let outcome = try run(
                "pmpipe", ["-h", host, "-i", "t_echo", "-x", "hello"], user: "pipetest_a", timeout: 30)
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out == "hello\n", "\(outcome)")
        }

        @Test func theSASLLoginNotTheClientProcessIsWhoTheAgentSees() throws {
            // root may run t_group over the unix socket (no rule names root); as
            // pipetest_b over TCP the same root process is refused, as pipetest_b.
            let bob = try Account("pipetest_b")
            let local = try run("pmpipe", ["-i", "t_group"], timeout: 30)
            #expect(local.status == 0 && local.out == "group-ok\n", "\(local)")
            let offset = Agent.logSize()
            let remote = try run(
                "pmpipe", ["-h", SASL.hostspec(user: bob.name, password: SASL.password), "-i", "t_group"],
                timeout: 30)
            #expect(remote.status == 255, "\(remote)")
            #expect(remote.err.contains("permission denied for 't_group'"), "\(remote)")
            let lines = auditLines(since: offset, instance: "t_group")
            #expect(lines.contains { $0.contains(identity(bob)) && $0.contains("decision=refused") }, "\(lines)")
        }

        @Test func aSASLUserIsRefusedTheCommandsTheRulesForbid() throws {
            let alice = try Account("pipetest_a")
            let offset = Agent.logSize()
            let secret = try pmval(
                "x", instance: "t_secret",
                host: SASL.hostspec(user: alice.name, password: SASL.password), user: alice.name)
            #expect(secret.status == 1, "\(secret)")
            #expect(
                secret.err.contains("store value \"x\" failed: No permission to perform requested operation"),
                "\(secret)")
            #expect(!secret.out.contains("secret"), "\(secret)")
            let lines = auditLines(since: offset, instance: "t_secret")
            #expect(
                lines.contains {
                    $0.contains(identity(alice)) && $0.contains("decision=refused")
                        && $0.contains("disallow user * : t_secret")
                }, "\(lines)")

            let bob = try Account("pipetest_b")
            let group = try run(
                "pmpipe", ["-h", SASL.hostspec(user: bob.name, password: SASL.password), "-i", "t_group"],
                user: bob.name, timeout: 30)
            #expect(group.status == 255, "\(group)")
            #expect(
                group.err.contains("permission denied for 't_group'") && group.err.contains("disallow user pipetest_b"),
                "\(group)")
            #expect(group.out.isEmpty, "\(group)")
        }

        @Test func aTCPClientWithoutCredentialsIsRefusedByTheAgent() throws {
            let offset = Agent.logSize()
            let pmvalOutcome = try pmval("anonymous", instance: "t_echo", host: "pcp://127.0.0.1", user: "pipetest_a")
            #expect(pmvalOutcome.status == 1, "\(pmvalOutcome)")
            #expect(
                pmvalOutcome.err.contains(
                    "store value \"anonymous\" failed: No permission to perform requested operation"),
                "\(pmvalOutcome)")
            let pmpipeOutcome = try run(
                "pmpipe", ["-h", "pcp://127.0.0.1", "-i", "t_echo", "-x", "anonymous"],
                user: "pipetest_a", timeout: 30)
            #expect(pmpipeOutcome.status == 255, "\(pmpipeOutcome)")
            #expect(pmpipeOutcome.err.contains("the client has no credentials"), "\(pmpipeOutcome)")
            // pmcd let the stores through (loopback is this host); the agent refused both, naming no user.
            let refused = auditLines(since: offset, instance: "t_echo")
            #expect(refused.count == 2, "\(refused)")
            #expect(
                refused.allSatisfy {
                    $0.contains("decision=refused") && $0.contains("the client has no credentials")
                        && !$0.contains(" uid=")
                }, "\(refused)")
        }

        @Test func aWrongPasswordIsRefusedByPmcdBeforeTheAgentHearsOfIt() throws {
            let offset = Agent.logSize()
            let outcome = try pmval("x", instance: "t_echo", host: SASL.hostspec(user: "pipetest_a", password: "wrong"))
            #expect(outcome.status == 1, "\(outcome)")
            #expect(outcome.err.contains("Authentication - authentication failure"), "\(outcome)")
            #expect(auditLines(since: offset, instance: "t_echo").isEmpty)
        }

        @Test func pmpipeAsksForThePasswordOnTheTerminalWhenTheHostSpecHasNone() throws {
            // script(1) gives pmpipe a terminal; the password is typed there, never an argument.
            let alice = try Account("pipetest_a")
            let command = "pmpipe -h 'pcp://127.0.0.1?username=\(alice.name)' -i t_echo -x typedpassword"
            let offset = Agent.logSize()
            let outcome = try runOnTerminal(command, typing: SASL.password, after: "Password:")
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out.contains("typedpassword"), "\(outcome)")
            #expect(!outcome.out.contains(SASL.password), "the password was echoed: \(outcome)")
            #expect(auditLines(since: offset, instance: "t_echo").contains { $0.contains(identity(alice)) })
        }

        @Test func aPasswordInTheHostSpecIsVisibleInTheClientsProcessList() throws {
            let alice = try Account("pipetest_a")
            let client = try launch(
                "pmpipe",
                [
                    "-h", SASL.hostspec(user: alice.name, password: SASL.password),
                    "-i", "t_sleep", "-x", "5",
                ], user: alice.name)
            defer {
                kill(client.processIdentifier, SIGKILL)
                waitForExit(client)
            }
            #expect(
                try eventually {
                    try processes().contains { $0.uid == alice.uid && $0.command.contains("password=\(SASL.password)") }
                })
        }

        // MARK: - pmcd's host rules: loopback is this host, other hosts may not store

        @Test func debiansPmcdConfRefusesStoresFromEveryHostButThisOne() throws {
            let rules = try PMCDAccess.accessSection()
            #expect(rules.contains("disallow \".*\" : store;"), "\(rules)")
            #expect(rules.contains("disallow \":*\" : store;"), "\(rules)")
            #expect(rules.contains("allow \"local:*\" : all;"), "\(rules)")
        }

        @Test(arguments: ["127.0.0.1", "[::1]"])
        func loopbackCountsAsThisHostSoASASLUserMayStore(address: String) throws {
            let outcome = try pmval(
                "via \(address)", instance: "t_any",
                host: SASL.hostspec(host: address, user: "pipetest_a", password: SASL.password))
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out.contains("pipe.line \"via \(address)\""), "\(outcome)")
        }

        @Test(.timeLimit(.minutes(2)))
        func anotherHostMayFetchButNotStoreUntilPmcdsAccessRulesAllowIt() throws {
            let alice = try Account("pipetest_a")
            let other = try RemoteHost()
            defer { other.teardown() }
            let host = SASL.hostspec(host: other.hostAddress, user: alice.name, password: SASL.password)
            let store = ["-h", host, "-x", "from afar", "-i", "t_echo", "-t", "0.2", "pipe.firehose"]

            let fetch = try other.run("pminfo", ["-h", host, "-f", "pipe.runs.started"])
            #expect(fetch.status == 0 && fetch.out.contains("\"t_echo\"] value"), "\(fetch)")
            var offset = Agent.logSize()
            let refused = try other.run("pmval", store)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.err.contains("No permission to perform requested operation"), "\(refused)")
            #expect(auditLines(since: offset, instance: "t_echo").isEmpty, "pmcd, not the agent, refused")

            try PMCDAccess.with("allow hosts \(other.remoteAddress) : all;") {
                offset = Agent.logSize()
                let allowed = try other.run("pmval", store)
                #expect(allowed.status == 0, "\(allowed)")
                #expect(allowed.out.contains("pipe.line \"from afar\""), "\(allowed)")
                #expect(auditLines(since: offset, instance: "t_echo").contains { $0.contains(identity(alice)) })
                // Opened to that host, a client there without a password still runs nothing.
                let anonymous = try other.run("pmval", ["-h", "pcp://\(other.hostAddress)"] + store.dropFirst(2))
                #expect(anonymous.status == 1, "\(anonymous)")
                #expect(
                    auditLines(since: offset, instance: "t_echo").last?.contains("the client has no credentials")
                        == true)
            }

            offset = Agent.logSize()
            let closedAgain = try other.run("pmval", store)
            #expect(closedAgain.status == 1, "\(closedAgain)")
            #expect(auditLines(since: offset, instance: "t_echo").isEmpty)
        }

        // MARK: - The SASL database and the script that manages it

        @Test func theDatabaseBelongsToRootAndIsReadableByPmcdsGroupOnly() throws {
            let pcp = try Account("pcp")
            var status = stat()
            #expect(stat(SASL.databasePath, &status) == 0)
            #expect(status.st_uid == 0)
            #expect(status.st_gid == pcp.gid, "pmcd (user pcp) reads it through its group")
            #expect(status.st_mode & 0o777 == 0o640, "mode \(String(status.st_mode & 0o777, radix: 8))")
            #expect(try SASL.users().contains("pipetest_a"))
        }

        @Test func aNewPasswordWorksAtOnceAndRemovingTheLoginLocksItOut() throws {
            let carol = "pipetest_c"
            let pmcdPID = try run("pgrep", ["-x", "pmcd"]).out
            defer { _ = try? SASL.removeUser(name: carol) }
            let login = { (password: String) in
                try run(
                    "pminfo", ["-h", SASL.hostspec(user: carol, password: password), "-f", "pmcd.version"], timeout: 30)
            }
            try SASL.ensureUser(name: carol, password: "first-\(SASL.password)")
            #expect(try login("first-\(SASL.password)").status == 0)

            let again = try SASL.ensureUser(name: carol, password: "second-\(SASL.password)")
            #expect(!again.out.contains("created"), "the database existed: \(again)")
            let old = try login("first-\(SASL.password)")
            #expect(old.status != 0 && old.err.contains("Authentication - authentication failure"), "\(old)")
            #expect(try login("second-\(SASL.password)").status == 0)

            try SASL.removeUser(name: carol)
            let removed = try login("second-\(SASL.password)")
            #expect(removed.status != 0 && removed.err.contains("Authentication - user not found"), "\(removed)")
            #expect(try run("pgrep", ["-x", "pmcd"]).out == pmcdPID, "pmcd was not restarted")
        }

        @Test func theScriptRefusesRootNamesWithoutAnAccountAndAnEmptyPassword() throws {
            let root = try run(SASL.script, ["root"], input: "whatever\n")
            #expect(root.status == 1 && root.err.contains("refusing 'root' (uid 0)"), "\(root)")
            let ghost = try run(SASL.script, ["pipetest_nosuchuser"], input: "whatever\n")
            #expect(ghost.status == 1 && ghost.err.contains("is not a Unix account"), "\(ghost)")
            let empty = try run(SASL.script, ["pipetest_c"], input: "\n")
            #expect(empty.status == 1 && empty.err.contains("empty password"), "\(empty)")
            let users = try SASL.users()
            #expect(
                !users.contains("root") && !users.contains("pipetest_nosuchuser") && !users.contains("pipetest_c"),
                "\(users)")
        }

        @Test func installSaslRunsAloneAndLeavesTheRunningAgentAlone() throws {
            let agent = try Agent.pid()
            defer { _ = try? SASL.removeUser(name: "pipetest_c") }
            let install = Integration.sourceRoot + "/Install"
            let outcome = try run(install, ["--sasl", "pipetest_c"], timeout: 180, input: SASL.password + "\n")
            #expect(outcome.status == 0, "\(outcome)")
            #expect(outcome.out.contains("SASL user 'pipetest_c'"), "\(outcome)")
            #expect(outcome.out.contains("What this means:"), "\(outcome)")
            #expect(try Agent.pid() == agent, "the agent was restarted")
            let login = try run(
                "pmpipe",
                [
                    "-h", SASL.hostspec(user: "pipetest_c", password: SASL.password),
                    "-i", "t_echo", "-x", "installed",
                ], timeout: 30)
            #expect(login.status == 0 && login.out == "installed\n", "\(login)")

            let combined = try run(install, ["--sasl", "pipetest_c", "--no-demo"], input: SASL.password + "\n")
            #expect(combined.status == 2 && combined.err.contains("--sasl runs alone"), "\(combined)")
        }

        // MARK: - pmproxy's REST API

        @Test(.timeLimit(.minutes(2)))
        func pmproxyRunsAsThePcpUserAndStopLeavesNothingRunning() throws {
            let proxy = try PMProxy.start()
            let pcp = try Account("pcp")
            let entry = try processes().first { $0.pid == proxy.process.processIdentifier }
            #expect(entry?.comm == "pmproxy" && entry?.uid == pcp.uid, "\(String(describing: entry))")
            #expect(proxy.log.contains("user = pcp (\(pcp.uid))"), "\(proxy.log)")
            let started = Date()
            proxy.stop()
            #expect(Date().timeIntervalSince(started) < 5, "pmproxy ignored SIGTERM")
            #expect(proxy.finalLog.contains("pmproxy Shutdown"), "\(proxy.finalLog)")
            #expect(try !PMProxy.anyRunning(directory: proxy.directory))
            #expect(!FileManager.default.fileExists(atPath: proxy.directory))
            #expect((try? HTTP.get(proxy.baseURL + "/pmapi/context", timeout: 2)) == nil, "the port still answers")
        }

        @Test(.timeLimit(.minutes(2)))
        func aRESTContextWithBasicAuthIsAPmcdLoginOfThatUser() throws {
            let alice = try Account("pipetest_a")
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            // One run as alice, so that pipe.runs.started[t_echo] is not zero.
            let ran = try pmval(
                "counted", instance: "t_echo", host: SASL.hostspec(user: alice.name, password: SASL.password))
            #expect(ran.status == 0, "\(ran)")

            let created = try HTTP.get(
                proxy.baseURL + "/pmapi/context?hostspec=localhost&polltimeout=30",
                user: alice.name, password: SASL.password)
            #expect(created.status == 200, "\(created)")
            let labels = created.json?["labels"] as? [String: Any]
            #expect(labels?["userid"] as? Int == Int(alice.uid), "\(created)")
            #expect(labels?["groupid"] as? Int == Int(alice.gid), "\(created)")
            let context = try #require(created.json?["context"] as? Int, "\(created)")

            let indom = try HTTP.get(
                proxy.baseURL + "/pmapi/\(context)/indom?name=pipe.runs.started",
                user: alice.name, password: SASL.password)
            let instances = indom.json?["instances"] as? [[String: Any]] ?? []
            let echo = try #require(
                instances.first { $0["name"] as? String == "t_echo" }?["instance"] as? Int, "\(indom)")
            let fetched = try HTTP.get(
                proxy.baseURL + "/pmapi/\(context)/fetch?names=pipe.runs.started",
                user: alice.name, password: SASL.password)
            #expect(fetched.status == 200, "\(fetched)")
            let values = ((fetched.json?["values"] as? [[String: Any]])?.first?["instances"] as? [[String: Any]]) ?? []
            let started = values.first { $0["instance"] as? Int == echo }?["value"] as? Int
            let expected = try Agent.value(of: "pipe.runs.started", instance: "t_echo")
            #expect(started != nil && started! >= 1 && started! == expected, "\(fetched), pminfo says \(expected)")

            // The context is alice's: without her credentials pmproxy refuses it.
            let stolen = try HTTP.get(proxy.baseURL + "/pmapi/\(context)/fetch?names=pipe.runs.started")
            #expect(stolen.status == 401, "\(stolen)")
            #expect(stolen.body.contains("authentication required"), "\(stolen)")
        }

        @Test(.timeLimit(.minutes(2)))
        func aRESTContextWithoutCredentialsOverTCPCarriesNoUser() throws {
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            let created = try HTTP.get(proxy.baseURL + "/pmapi/context?hostspec=localhost")
            #expect(created.status == 200, "\(created)")
            let labels = try #require(created.json?["labels"] as? [String: Any], "\(created)")
            #expect(labels["hostname"] != nil && labels["userid"] == nil && labels["groupid"] == nil, "\(created)")
        }

        @Test(.timeLimit(.minutes(2)))
        func anAnonymousLocalRESTContextIsPmproxysOwnUserPcp() throws {
            let pcp = try Account("pcp")
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            let created = try HTTP.get(proxy.baseURL + "/pmapi/context?hostspec=local:")
            #expect(created.status == 200, "\(created)")
            let labels = created.json?["labels"] as? [String: Any]
            #expect(labels?["userid"] as? Int == Int(pcp.uid), "\(created)")
            #expect(labels?["groupid"] as? Int == Int(pcp.gid), "\(created)")
        }

        @Test(.timeLimit(.minutes(2)))
        func aWrongBasicAuthPasswordGetsNoContext() throws {
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            let refused = try HTTP.get(
                proxy.baseURL + "/pmapi/context?hostspec=localhost",
                user: "pipetest_a", password: "wrong")
            #expect(refused.status == 400, "\(refused)")
            #expect(
                refused.body.contains("cannot connect to PMCD: Authentication - authentication failure"), "\(refused)")
            #expect(refused.json?["context"] == nil, "\(refused)")
        }
    }
}

// MARK: - SASL logins for a whole suite

/// Gives the named test users SASL logins (password `SASL.password`) for the
/// suite's duration, through the same script as `./Install --sasl`, and removes
/// them afterwards; the database itself too if the suite created it.
struct SASLLogins: SuiteTrait, TestScoping {
    let users: [String]
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        guard Integration.enabled else { return try await function() }
        try TestSetup.prepare()
        let databaseExisted = FileManager.default.fileExists(atPath: SASL.databasePath)
        defer {
            for user in users { _ = try? SASL.removeUser(name: user) }
            if !databaseExisted, (try? SASL.users().isEmpty) ?? false {
                try? FileManager.default.removeItem(atPath: SASL.databasePath)
            }
        }
        for user in users { try SASL.ensureUser(name: user) }
        try await function()
    }
}

extension Trait where Self == SASLLogins {
    static func saslLogins(for users: [String]) -> Self { SASLLogins(users: users) }
}
