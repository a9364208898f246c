import Foundation
import Testing

extension PipeIntegration {
    /// The dashboard (web/) in headless Chromium, against a real pmproxy and
    /// the agent in pmcd: served by web/serve.py next to pmproxy, logged in
    /// as pipetest_a with HTTP Basic auth (pmproxy makes it a SASL login),
    /// clicked and typed into as a person would. Screenshots go to
    /// .build/test-artifacts/.
    @Suite(.saslLogins(for: ["pipetest_a"]))
    struct DashboardTests {
        init() throws { try TestSetup.prepare() }

        @Test(.timeLimit(.minutes(3)))
        func theCommandListShowsWhatTheLoginMayRunAndNothingElse() throws {
            try withDashboard { page in
                let alice = try Account("pipetest_a")
                let commands = try page.strings(
                    "[...document.querySelectorAll('#command-list [data-command]')].map(e => e.dataset.command)")
                #expect(
                    commands.contains("dash_count") && commands.contains("dash_html") && commands.contains("t_echo"),
                    "\(commands)")
                #expect(!commands.contains("dash_secret"), "no rule names dash_secret: root only")
                #expect(!commands.contains("t_secret"), "disallow user * : t_secret")

                let card = "#command-list [data-command=\"dash_count\"]"
                #expect(
                    try page.string("document.querySelector('\(card) .command-line').textContent")
                        == DashboardConfiguration.countCommand)
                #expect(
                    try page.strings("[...document.querySelectorAll('\(card) .types li')].map(e => e.textContent)")
                        == ["$1 integer 1..100"])

                // A command line is shown as text, never as markup.
                let html = "#command-list [data-command=\"dash_html\"] .command-line"
                #expect(
                    try page.string("document.querySelector('\(html)').textContent")
                        == DashboardConfiguration.htmlCommand)
                #expect(
                    try page.bool(
                        "document.getElementById('injected') === null && document.querySelectorAll('main img, main b').length === 0"
                    ))

                #expect(
                    try page.string("document.getElementById('session').textContent")
                        .contains("as pipetest_a (uid \(alice.uid))"))
                #expect(
                    try page.string("document.getElementById('password').value") == "",
                    "the page keeps no password in the form")
                #expect(try page.bool("localStorage.length === 0 && sessionStorage.length === 0"))
                try saveScreenshot(of: page, as: "dashboard-commands.png")
            }
        }

        @Test(.timeLimit(.minutes(3)))
        func aSharedRunStartedOnThePageStreamsItsLinesAndStopEndsIt() throws {
            try withDashboard { page in
                // Start dash_count 100 (20 s of ticks), see the first lines arrive, stop it.
                let card = "#command-list [data-command=\"dash_count\"]"
                try page.type("100", into: "\(card) input")
                try page.click("\(card) button")
                let started = try page.waitUntil(
                    "/tick2\\n/.test(document.getElementById('output').textContent)"
                        + " || !document.getElementById('error').hidden", timeout: 20)
                let refused = try !page.bool("document.getElementById('error').hidden")
                try #require(started && !refused, "no lines: \(pageState(page))")
                let run = try page.string("document.getElementById('run-name').textContent")
                #expect(run.hasPrefix("dash_count."), "\(run)")
                #expect(try page.string("document.getElementById('run-status').textContent") == "running")
                #expect(
                    try page.waitUntil(
                        "document.querySelector('#run-rows tr[data-run=\"\(run)\"]') !== null", timeout: 10),
                    "the run is not in the list of runs")

                try page.click("#stop-button")
                let finished = try page.waitUntil(
                    "document.getElementById('run-view').dataset.finished === 'true'", timeout: 20)
                #expect(finished, "the run did not end: \(pageState(page))")
                let status = try page.string("document.getElementById('run-status').textContent")
                #expect(status == "stopped", "\(status)")
                #expect(try page.string("document.getElementById('run-exit').textContent") != "", "no exit status")
                let lines = try outputLines(page)
                #expect(lines.count >= 3 && lines.count < 100, "\(lines.count) lines")
                #expect(lines == (0..<lines.count).map { "tick\($0)" }, "\(lines)")
                #expect(
                    try page.bool("document.getElementById('error').hidden"),
                    "\(pageState(page))")
                #expect(try page.bool("document.getElementById('stop-button').disabled"))
                try saveScreenshot(of: page, as: "dashboard.png")

                // A run left to finish: every line, then exit status 0.
                try page.type("3", into: "\(card) input")
                try page.click("\(card) button")
                #expect(
                    try page.waitUntil(
                        "document.getElementById('run-name').textContent !== \(Chromium.literal(run))"
                            + " && document.getElementById('run-view').dataset.finished === 'true'", timeout: 20),
                    "\(pageState(page))")
                #expect(try outputLines(page) == ["tick0", "tick1", "tick2"])
                #expect(try page.string("document.getElementById('run-status').textContent") == "exited")
                #expect(try page.string("document.getElementById('run-exit').textContent") == "0")

                // Output that looks like markup stays text.
                try page.click("#command-list [data-command=\"dash_html\"] button")
                #expect(
                    try page.waitUntil(
                        "document.getElementById('run-name').textContent.startsWith('dash_html.')"
                            + " && document.getElementById('run-view').dataset.finished === 'true'", timeout: 20),
                    "\(pageState(page))")
                #expect(try outputLines(page) == ["<img src=x id=injected>", "<b>bold</b>"])
                #expect(
                    try page.bool(
                        "document.getElementById('injected') === null && document.querySelectorAll('main img, main b').length === 0"
                    ))

                // A refused start says why, in the agent's words, and starts nothing.
                try page.type("1000", into: "\(card) input")
                try page.click("\(card) button")
                #expect(
                    try page.waitUntil("!document.getElementById('error').hidden", timeout: 10), "\(pageState(page))")
                let refusal = try page.string("document.getElementById('error').textContent")
                #expect(
                    refusal.hasPrefix("dash_count: ") && refusal.contains("outside the range 1 to 100"), "\(refusal)")
                #expect(try page.string("document.getElementById('run-name').textContent").hasPrefix("dash_html."))
            }
        }

        // MARK: - The pieces

        /// pmproxy, web/serve.py, the test's commands and a browser logged in
        /// as pipetest_a; everything is stopped and removed afterwards.
        private func withDashboard(_ body: (Chromium) throws -> Void) throws {
            try DashboardConfiguration.install()
            defer { DashboardConfiguration.remove() }
            let proxy = try PMProxy.start()
            defer { proxy.stop() }
            let server = try DashboardServer.start(pmproxy: proxy.baseURL)
            defer { server.stop() }
            let page = try Chromium.launch(width: 1280, height: 800)
            defer {
                page.close()
                #expect(!page.anyRunning, "Chromium left processes behind")
            }
            try page.navigate(to: server.baseURL + "/")
            try page.type("pipetest_a", into: "#user")
            try page.type(SASL.password, into: "#password")
            try page.click("#connect-button")
            let listed = try page.waitUntil(
                "document.querySelectorAll('#command-list [data-command]').length > 0"
                    + " || !document.getElementById('error').hidden", timeout: 20)
            #expect(listed, "nothing happened: \(pageState(page))")
            #expect(try page.bool("document.getElementById('error').hidden"), "\(pageState(page))")
            try body(page)
            #expect(page.problems.isEmpty, "\(page.problems)\nserver log:\n\(server.log)")
        }

        /// The lines in the output pane.
        private func outputLines(_ page: Chromium) throws -> [String] {
            let text = try page.string("document.getElementById('output').textContent")
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            return Array(lines.dropLast(text.hasSuffix("\n") ? 1 : 0))
        }

        /// What the page shows, for failure messages.
        private func pageState(_ page: Chromium) -> String {
            ((try? page.string(
                """
                ['session', 'error', 'run-name', 'run-status', 'run-exit', 'output']
                  .map(id => id + ': ' + (document.getElementById(id) || {}).textContent).join('\\n')
                """)) ?? "(the page does not answer)") + "\nbrowser problems: \(page.problems)"
        }

        private func saveScreenshot(of page: Chromium, as name: String) throws {
            let directory = Integration.sourceRoot + "/.build/test-artifacts"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/" + name
            try page.screenshot().write(to: URL(fileURLWithPath: path))
            print("DashboardTests: screenshot saved to \(path)")
        }
    }
}

// MARK: - The dashboard's commands

/// The test's commands, in a drop-in file of their own next to the
/// integration tests' (scripts/test removes it after a killed run).
enum DashboardConfiguration {
    static let countCommand = "sh -c 'i=0; while [ $i -lt $1 ]; do echo tick$i; i=$((i+1)); sleep 0.2; done'"
    static let htmlCommand = "printf '%s\\n' '<img src=x id=injected>' '<b>bold</b>'"

    static let text = """
        # Commands of pmdapipe's dashboard test (removed after the test).
        dash_count   nobody  \(countCommand)
        dash_html    nobody  \(htmlCommand)
        dash_secret  nobody  echo secret

        [instance dash_count]
        param 1 = integer 1..100
        shared = yes

        [instance dash_html]
        shared = yes

        [access]
        allow user pipetest_a : dash_count, dash_html

        """

    static let dropIn = TestSetup.DropIn("dashboard")

    static func install() throws { try dropIn.install(text, expecting: "dash_count") }

    static func remove() { dropIn.remove() }
}

// MARK: - web/serve.py

/// web/serve.py on a free loopback port, run as `nobody` from a copy of
/// web/ (the checkout may be unreadable to nobody), passing /pmapi/ to pmproxy.
final class DashboardServer {
    let port: Int
    let directory: String
    let process: Process

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var log: String { (try? String(contentsOfFile: directory + "/serve.log", encoding: .utf8)) ?? "" }

    private init(port: Int, directory: String, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    static func start(pmproxy: String) throws -> DashboardServer {
        let nobody = try Account("nobody")
        var lastError: any Error = HarnessError("serve.py did not start")
        for _ in 1...3 {  // a free port can be taken between the probe and the bind
            var template = Array("/tmp/pmdapipe-dashboard-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed: errno \(errno)") }
            let directory = String(cString: made)
            chmod(directory, 0o755)
            for name in ["index.html", "app.js", "style.css", "serve.py"] {
                try FileManager.default.copyItem(
                    atPath: Integration.sourceRoot + "/web/" + name, toPath: directory + "/" + name)
            }
            let logPath = directory + "/serve.log"
            FileManager.default.createFile(atPath: logPath, contents: nil)
            chown(logPath, nobody.uid, nobody.gid)
            let port = try PMProxy.freeLoopbackPort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments =
                try setprivArguments("nobody")
                + ["/usr/bin/python3", directory + "/serve.py", "--port", "\(port)", "--pmproxy", pmproxy]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try process.run()
            let server = DashboardServer(port: port, directory: directory, process: process)
            let answering = eventually(timeout: 15) {
                !process.isRunning || ((try? HTTP.get(server.baseURL + "/", timeout: 2))?.status == 200)
            }
            if answering && process.isRunning { return server }
            lastError = HarnessError("serve.py did not answer on port \(port); its log:\n\(server.log)")
            server.stop()
        }
        throw lastError
    }

    /// SIGKILL: it keeps no state, and the test threads' blocked SIGTERM would reach it blocked.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
