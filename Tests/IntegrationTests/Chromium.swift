import Foundation

/// Debian's headless Chromium, driven through the DevTools protocol over a
/// pipe (`--remote-debugging-pipe`): the browser reads JSON messages, each
/// ended by a NUL byte, on its descriptor 3 and writes its answers and events
/// on descriptor 4. No port, no WebSocket, nothing another user could reach.
///
/// One browser, one page (a 1280x800 tab). Calls are synchronous: `call`
/// sends a command and reads until its answer arrives, keeping the events
/// read meanwhile (console messages, exceptions) in `events`.
final class Chromium {
    static let executable = "/usr/bin/chromium"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    let pid: pid_t
    /// The profile directory and the browser's own log.
    let directory: String
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var lastID = 0
    private var session: String?
    private(set) var events: [[String: Any]] = []
    private var closed = false

    var logPath: String { directory + "/chromium.log" }

    private init(pid: pid_t, directory: String, toBrowser: Int32, fromBrowser: Int32) {
        self.pid = pid
        self.directory = directory
        self.toBrowser = toBrowser
        self.fromBrowser = fromBrowser
    }

    deinit { close() }

    /// Starts the browser in a process group of its own (so that `close`
    /// can end every process it started) and opens one page of the given size.
    static func launch(width: Int = 1280, height: Int = 800) throws -> Chromium {
        guard installed else {
            throw HarnessError("\(executable) is missing (apt-get install --no-install-recommends chromium)")
        }
        // A write to a browser that died must fail with EPIPE, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        var template = Array("/tmp/pmdapipe-chromium-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed: errno \(errno)") }
        let directory = String(cString: made)

        let (browserReads, weWrite) = try makePipe()
        let (weRead, browserWrites) = try makePipe()
        let arguments = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--user-data-dir=\(directory)/profile", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", "--hide-scrollbars", "--window-size=\(width),\(height)",
            "about:blank",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/chromium.log", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, browserReads, 3)
        posix_spawn_file_actions_adddup2(&actions, browserWrites, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test threads block most signals; the browser must start with none blocked.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // Its crash handler keeps a database under $HOME/.config: keep it in the directory too.
        var environment = ProcessInfo.processInfo.environment
        for name in ["HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"] { environment[name] = directory }
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &argv, &envp)
        Glibc.close(browserReads)
        Glibc.close(browserWrites)
        guard spawned == 0 else {
            Glibc.close(weWrite)
            Glibc.close(weRead)
            throw HarnessError("posix_spawn \(executable) failed: errno \(spawned)")
        }
        let browser = Chromium(pid: pid, directory: directory, toBrowser: weWrite, fromBrowser: weRead)
        try browser.openPage(width: width, height: height)
        return browser
    }

    /// A pipe whose two descriptors are above 9 (so that dup2 onto 3 and 4
    /// never meets one of them) and close on exec.
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HarnessError("pipe failed: errno \(errno)") }
        let read = fcntl(fds[0], F_DUPFD_CLOEXEC, 10)
        let write = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)
        Glibc.close(fds[0])
        Glibc.close(fds[1])
        guard read >= 0, write >= 0 else { throw HarnessError("fcntl F_DUPFD_CLOEXEC failed: errno \(errno)") }
        return (read, write)
    }

    private func openPage(width: Int, height: Int) throws {
        let target = try call("Target.createTarget", ["url": "about:blank"], inPage: false)
        guard let targetID = target["targetId"] as? String else { throw HarnessError("no targetId: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true], inPage: false)
        guard let session = attached["sessionId"] as? String else { throw HarnessError("no sessionId: \(attached)") }
        self.session = session
        for domain in ["Page", "Runtime", "Log"] { try call(domain + ".enable") }
        try call(
            "Emulation.setDeviceMetricsOverride",
            ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
    }

    // MARK: - The protocol

    /// Sends one command (to the page unless `inPage` is false) and returns its result.
    @discardableResult
    func call(
        _ method: String, _ parameters: [String: Any] = [:], inPage: Bool = true,
        timeout: Double = 30
    ) throws -> [String: Any] {
        lastID += 1
        var message: [String: Any] = ["id": lastID, "method": method, "params": parameters]
        if inPage, let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw HarnessError("Chromium is gone (write: errno \(errno)); its log:\n\(log)") }
            sent += count
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            while let end = buffer.firstIndex(of: 0) {
                let raw = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let answer = try JSONSerialization.jsonObject(with: raw) as? [String: Any] else { continue }
                guard answer["id"] as? Int == lastID else {
                    events.append(answer)
                    continue
                }
                if let error = answer["error"] { throw HarnessError("\(method) failed: \(error)") }
                return answer["result"] as? [String: Any] ?? [:]
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw HarnessError("no answer from Chromium to \(method) within \(timeout) s") }
            var entry = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(min(left, 1) * 1000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fromBrowser, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw HarnessError("Chromium closed the pipe; its log:\n\(log)") }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    // MARK: - The page

    func navigate(to url: String) throws {
        try call("Page.navigate", ["url": url])
        guard try waitUntil("document.readyState === 'complete'", timeout: 20) else {
            throw HarnessError("\(url) did not load")
        }
    }

    /// Evaluates JavaScript in the page (awaiting a promise) and returns its JSON value.
    @discardableResult
    func evaluate(_ expression: String) throws -> Any? {
        let result = try call(
            "Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let details = result["exceptionDetails"] {
            throw HarnessError("JavaScript exception in \(expression): \(details)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    func string(_ expression: String) throws -> String { try evaluate(expression) as? String ?? "" }
    func strings(_ expression: String) throws -> [String] { try evaluate(expression) as? [String] ?? [] }
    func bool(_ expression: String) throws -> Bool { try evaluate(expression) as? Bool ?? false }

    /// Polls `expression` until it is true or `timeout` passes.
    func waitUntil(_ expression: String, timeout: Double = 15) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try bool("Boolean(\(expression))") { return true }
            usleep(100_000)
        } while Date() < deadline
        return try bool("Boolean(\(expression))")
    }

    /// Clicks the middle of the element `selector` with the mouse, as a person would
    /// (so a hidden or covered element cannot be clicked).
    func click(_ selector: String) throws {
        let box =
            try evaluate(
                """
                (() => { const e = document.querySelector(\(Chromium.literal(selector)));
                         if (!e) return null; e.scrollIntoView({block: 'center'});
                         const r = e.getBoundingClientRect();
                         return r.width > 0 && r.height > 0 ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()
                """) as? [Double]
        guard let box, box.count == 2 else { throw HarnessError("no visible element \(selector) to click") }
        for type in ["mousePressed", "mouseReleased"] {
            try call(
                "Input.dispatchMouseEvent", ["type": type, "x": box[0], "y": box[1], "button": "left", "clickCount": 1])
        }
    }

    /// Focuses the input `selector`, empties it and types `text` into it.
    func type(_ text: String, into selector: String) throws {
        let found = try bool(
            """
            (() => { const e = document.querySelector(\(Chromium.literal(selector)));
                     if (!e) return false; e.focus(); e.select(); return document.activeElement === e; })()
            """)
        guard found else { throw HarnessError("no input \(selector) to type into") }
        try call("Input.insertText", ["text": text])
    }

    /// A PNG of the page as it is shown.
    func screenshot() throws -> Data {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let encoded = result["data"] as? String, let png = Data(base64Encoded: encoded) else {
            throw HarnessError("no screenshot data")
        }
        return png
    }

    /// Exceptions, console errors and refusals (Content-Security-Policy, CORS) seen so far.
    var problems: [String] {
        events.compactMap { event -> String? in
            let parameters = event["params"] as? [String: Any] ?? [:]
            switch event["method"] as? String {
            case "Runtime.exceptionThrown":
                let details = parameters["exceptionDetails"] as? [String: Any] ?? [:]
                let exception = details["exception"] as? [String: Any] ?? [:]
                return "exception: \(exception["description"] ?? details["text"] ?? "?")"
            case "Log.entryAdded":
                // Not "network": an HTTP error answer that the page reports itself.
                let entry = parameters["entry"] as? [String: Any] ?? [:]
                guard entry["level"] as? String == "error", entry["source"] as? String != "network" else { return nil }
                return "log (\(entry["source"] ?? "?")): \(entry["text"] ?? "?")"
            case "Runtime.consoleAPICalled":
                guard parameters["type"] as? String == "error" else { return nil }
                return "console.error: \(parameters["args"] ?? "")"
            default:
                return nil
            }
        }
    }

    /// `text` as a JavaScript string literal.
    static func literal(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    // MARK: - The end

    /// Asks the browser to quit, then ends whatever is left of its process
    /// group, reaps it and removes its profile.
    func close() {
        guard !closed else { return }
        closed = true
        _ = try? call("Browser.close", inPage: false, timeout: 5)
        Glibc.close(toBrowser)
        Glibc.close(fromBrowser)
        // Wait for the browser to exit without reaping it: while it is a
        // zombie its pid (the group's id) cannot be reused by anyone else.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, Self.state(of: pid).map({ $0 != "Z" }) ?? false { usleep(20_000) }
        // Its helpers (zygote, renderers) share its process group.
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        // Its crash handlers start sessions of their own; they name the directory.
        let stragglers = Date().addingTimeInterval(5)
        while Date() < stragglers, !leftovers().isEmpty { usleep(50_000) }
        for process in leftovers() { kill(process, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The live processes that the browser started: in its process group, or
    /// naming its directory (each test's own, from mkdtemp) on their command line.
    private func leftovers() -> [pid_t] {
        ((try? processes()) ?? [])
            .filter { $0.state != "Z" && ($0.pgid == pid || $0.command.contains(directory)) }
            .map(\.pid)
    }

    /// A process's state letter from /proc (nil once it is reaped).
    private static func state(of pid: pid_t) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// Whether any process the browser started is still alive.
    var anyRunning: Bool { !leftovers().isEmpty }
}
