import PipeCore
import PipeSystem

/// What pmpipe does, minus argument parsing: returns the exit status.
public enum Pmpipe {
    /// Exit statuses of pmpipe's own (the command's are 0...255 as the shell sees them).
    public enum Status {
        public static let linesLost: Int32 = 254
        public static let failure: Int32 = 255
        public static let stdoutClosed: Int32 = 128 + Signal.pipe.rawValue
    }

    /// What a private run needs (`pmpipe -i NAME -x PARAMS`).
    public struct Options: Sendable {
        public var host: String
        public var prefix: String
        public var instance: String
        public var parameters: String
        public var interval: PollInterval
        public var verbose: Bool

        public init(
            host: String, prefix: String, instance: String, parameters: String,
            interval: PollInterval, verbose: Bool
        ) {
            self.host = host
            self.prefix = prefix
            self.instance = instance
            self.parameters = parameters
            self.interval = interval
            self.verbose = verbose
        }
    }

    /// The options every mode shares.
    public struct Settings: Sendable {
        public var host: String
        public var prefix: String
        public var interval: PollInterval
        public var verbose: Bool

        public init(
            host: String = "unix:", prefix: String = "pipe", interval: PollInterval = .default,
            verbose: Bool = false
        ) {
            self.host = host
            self.prefix = prefix
            self.interval = interval
            self.verbose = verbose
        }
    }

    /// The whole of pmpipe once its arguments are parsed: does what `mode`
    /// asks and returns the exit status.
    public static func perform(_ mode: PmpipeMode, _ settings: Settings) -> Int32 {
        switch mode {
        case .run(let instance, let parameters):
            return run(
                Options(
                    host: settings.host, prefix: settings.prefix, instance: instance,
                    parameters: parameters, interval: settings.interval, verbose: settings.verbose))
        case .explain(let instance, let parameters):
            return explain(instance: instance, parameters: parameters, settings)
        case .list:
            return list(host: settings.host, prefix: settings.prefix)
        case .shared(let instance, let parameters):
            return shared(instance: instance, parameters: parameters, settings)
        case .attach(let run, let from):
            return attach(run: run, from: from, settings)
        case .runs:
            return runs(settings)
        case .stop(let run):
            return stop(run: run, settings)
        case .replay(let archive, let instance, let start, let finish):
            return replay(archive: archive, instance: instance, start: start, finish: finish, settings)
        }
    }

    /// Writes `pmpipe: <sentence>` to stderr, unbuffered.
    public static func complain(_ sentence: String) {
        var err = OutputBuffer(.standardError, capacity: 4096)
        try? err.append("pmpipe: \(sentence)\n")
        try? err.flush()
    }

    // MARK: - Modes that print one answer

    /// `pmpipe --list`: per command the caller may run, `NAME<TAB>COMMAND`
    /// and its parameter types (CommandListing).
    public static func list(host: String, prefix: String) -> Int32 {
        answer { out throws in
            let connection = try PipeConnection(host: host, prefix: prefix)
            defer { connection.disconnect() }
            let commands = try connection.commandList()
            try out.append(CommandListing.format(commands))
            if commands.isEmpty { noteMissingCredentials(connection, "the agent shows no commands") }
            return 0
        }
    }

    /// `pmpipe --explain -i NAME -x PARAMS`: the agent's explanation; 0 if
    /// the request would run, 255 if it would be refused.
    public static func explain(instance: String, parameters: String, _ settings: Settings) -> Int32 {
        answer { out throws in
            let request = try StoreRequest(parameters: parameters)
            let connection = try PipeConnection(host: settings.host, prefix: settings.prefix)
            defer { connection.disconnect() }
            let explanation = Explanation(try connection.explain(instance: instance, request: request))
            try out.append(explanation.text.hasSuffix("\n") ? explanation.text : explanation.text + "\n")
            return explanation.wouldRun ? 0 : Status.failure
        }
    }

    /// `pmpipe --runs`: the shared runs the caller may read (RunTable).
    public static func runs(_ settings: Settings) -> Int32 {
        answer { out throws in
            let connection = try PipeConnection(host: settings.host, prefix: settings.prefix)
            defer { connection.disconnect() }
            let runs = try connection.sharedRuns()
            try out.append(RunTable.format(runs))
            if runs.isEmpty { noteMissingCredentials(connection, "the agent shows no runs") }
            return 0
        }
    }

    /// `pmpipe --stop RUN`: 0 once the agent has stopped it, else 255 and
    /// the agent's reason.
    public static func stop(run: String, _ settings: Settings) -> Int32 {
        answer { _ throws in
            let connection = try PipeConnection(host: settings.host, prefix: settings.prefix)
            defer { connection.disconnect() }
            if try connection.stop(run: run) { complain(alreadyFinishedNote(run)) }
            return 0
        }
    }

    /// An empty answer over TCP without a login is the agent hiding
    /// everything from a client it cannot identify: say so.
    private static func noteMissingCredentials(_ connection: PipeConnection, _ what: String) {
        guard let advice = connection.hostSpec.credentialsAdvice(agentSentence: nil) else { return }
        complain("\(what) to a client without credentials (\(advice))")
    }

    /// Runs `body` with a buffered stdout and turns what it throws into
    /// pmpipe's sentences and exit statuses.
    private static func answer(_ body: (inout OutputBuffer) throws -> Int32) -> Int32 {
        TerminationSignals.install()
        var out = OutputBuffer(.standardOutput)
        do {
            let status = try body(&out)
            try out.flush()
            return status
        } catch let error as PipeClientError {
            try? out.flush()
            complain("\(error)")
        } catch OutputError.closed {
            return Status.stdoutClosed
        } catch OutputError.interrupted {
            return exitStatus(for: TerminationSignals.caught ?? .interrupt)
        } catch OutputError.failed(let errno) {
            complain("\(PipeClientError.cannotWrite(reason: errno.description))")
        } catch {
            complain("\(error)")
        }
        return TerminationSignals.caught.map(exitStatus(for:)) ?? Status.failure
    }

    // MARK: - Modes that follow a stream of records

    /// `pmpipe -i INSTANCE`: start the run, print it, return its status.
    public static func run(_ options: Options) -> Int32 {
        // Before anything else: a store pmcd would refuse is refused here,
        // with the reason, without connecting.
        guard let request = storeRequest(options.parameters) else { return Status.failure }
        let settings = Settings(
            host: options.host, prefix: options.prefix, interval: options.interval,
            verbose: options.verbose)
        return connectAndFollow(settings) { connection in
            (try connection.start(instance: options.instance, request: request), nil)
        }
    }

    /// `pmpipe --shared -i NAME -x PARAMS`: start a shared run and follow
    /// it like a private one; a signal detaches and leaves it running.
    public static func shared(instance: String, parameters: String, _ settings: Settings) -> Int32 {
        guard let request = storeRequest(parameters) else { return Status.failure }
        return connectAndFollow(settings) { connection in
            let name = try connection.startShared(instance: instance, request: request)
            complain("started \(name)")
            return (try connection.attach(run: name).run, nil)
        }
    }

    /// `pmpipe --attach RUN [--from start]`: follow a shared run until it
    /// ends, from now (lines written before attaching are skipped) or from
    /// the oldest line the agent kept.
    public static func attach(run name: String, from: AttachStart, _ settings: Settings) -> Int32 {
        connectAndFollow(settings) { connection in
            let attached = try connection.attach(run: name)
            return (
                attached.run,
                from == .now
                    ? RecordWindow(notBefore: attached.attachedAt)
                    : RecordWindow(leadingGapIsHistory: true)
            )
        }
    }

    /// The parameters as one store pmcd accepts, or nil after saying why not.
    private static func storeRequest(_ parameters: String) -> StoreRequest? {
        do {
            return try StoreRequest(parameters: parameters)
        } catch {
            complain("\(error)")
            return nil
        }
    }

    /// What `run`, `shared` and `attach` share: connects, lets `begin` start
    /// or find the run (and the window of records to print), follows it to
    /// its end and disconnects. Returns pmpipe's exit status.
    private static func connectAndFollow(
        _ settings: Settings,
        begin: (PipeConnection) throws -> (PipeRun, RecordWindow?)
    ) -> Int32 {
        TerminationSignals.install()
        HeapTuning.keepFetchBuffersMapped()
        let connection: PipeConnection
        let run: PipeRun
        let window: RecordWindow?
        do {
            connection = try PipeConnection(host: settings.host, prefix: settings.prefix)
            (run, window) = try begin(connection)
        } catch {
            complain("\(error)")
            return TerminationSignals.caught.map(exitStatus(for:)) ?? Status.failure
        }
        defer { connection.disconnect() }
        var printer = RecordPrinter(
            ids: connection.parameterIDs, stdout: OutputBuffer(.standardOutput),
            stderr: OutputBuffer(.standardError, capacity: 64 << 10), verbose: settings.verbose,
            window: window)
        return follow(run, printer: &printer, interval: settings.interval, verbose: settings.verbose)
    }

    /// How often a shared run that has gone quiet is checked for still
    /// being there (the agent culls finished runs after their retain time).
    static let quietRunCheck = Duration.seconds(1)

    /// Fetches `stream` until its end, printing through `printer`; returns
    /// pmpipe's exit status. Signals and a closed stdout end the loop: the
    /// caller disconnects, which stops a private run; a shared one goes on,
    /// and pmpipe says so.
    static func follow(
        _ stream: PipeRun, printer: inout RecordPrinter, interval: PollInterval,
        verbose: Bool
    ) -> Int32 {
        var reportedUnretained = 0
        var lastCheck = Clock.monotonic()
        while true {
            if let sig = TerminationSignals.caught {
                // Best effort: a reader that stopped reading must not keep
                // us here (write(2) then fails with EINTR and we give up).
                try? printer.out.flush()
                try? printer.err.flush()
                detached(stream)
                return exitStatus(for: sig)
            }
            let outcome: FetchOutcome
            do {
                outcome = try stream.fetch(into: &printer)
                try printer.out.flush()
                try? printer.err.flush()
            } catch OutputError.closed {
                printer.out.discard()
                try? printer.err.flush()
                detached(stream)
                return Status.stdoutClosed
            } catch OutputError.interrupted {
                printer.out.discard()
                detached(stream)
                return exitStatus(for: TerminationSignals.caught ?? .interrupt)
            } catch OutputError.failed(let errno) {
                try? printer.err.flush()
                complain("\(PipeClientError.cannotWrite(reason: errno.description))")
                return Status.failure
            } catch {
                // A signal can interrupt pmFetch; then that is the story.
                try? printer.out.flush()
                try? printer.err.flush()
                if let sig = TerminationSignals.caught {
                    detached(stream)
                    return exitStatus(for: sig)
                }
                complain("\(error)")
                return Status.failure
            }
            if printer.unretainedLines > reportedUnretained {
                reportedUnretained = printer.unretainedLines
                complain(unretainedNote(stream.name, lines: reportedUnretained))
            }
            switch outcome {
            case .ended:
                return finish(printer, label: stream.name, verbose: verbose)
            case .records:
                lastCheck = Clock.monotonic()
                continue  // drain at full speed
            case .empty:
                // PCP's C agent marks every record after the command exited
                // with END; the stream is over once they stop coming. A
                // shared run's stream has no values after its END.
                if printer.sawEnd { return finish(printer, label: stream.name, verbose: verbose) }
                if stream.isShared && Clock.monotonic().since(lastCheck) >= quietRunCheck {
                    lastCheck = Clock.monotonic()
                    if !stream.connection.stillReadable(stream) {
                        complain("\(PipeClientError.runGone(stream.name))")
                        return Status.failure
                    }
                }
                TerminationSignals.sleep(microseconds: interval.microseconds)
            }
        }
    }

    /// Leaving a shared run: it goes on, and the user should know how to
    /// come back to it or stop it.
    private static func detached(_ stream: PipeRun) {
        guard stream.isShared else { return }
        complain(detachNote(stream.name))
    }

    /// What `--stop` says of a run that had ended before it asked (exit 0:
    /// the run is stopped either way).
    public static func alreadyFinishedNote(_ run: String) -> String {
        "\(run) had already finished: there was nothing to stop (pmpipe --runs shows how it ended)"
    }

    /// What pmpipe says when it leaves a shared run running.
    public static func detachNote(_ run: String) -> String {
        "detached from \(run), which goes on running: pmpipe --attach \(run) follows it again, "
            + "pmpipe --stop \(run) stops it"
    }

    /// What `--attach --from start` says when the run's first lines had
    /// already left the agent's buffer.
    public static func unretainedNote(_ run: String, lines: Int) -> String {
        "the first \(lines) \(lines == 1 ? "line" : "lines") of \(run) had already left the agent's buffer; "
            + "printing from the oldest line it keeps"
    }

    // MARK: - Replaying an archive

    /// `pmpipe -a ARCHIVE -i RUN [-S START] [-T END]`: the run's lines from
    /// a pmlogger archive, exactly as written. Exit status: the command's
    /// when the window holds the run's end, else 0 (254 when lines were lost).
    public static func replay(
        archive: String, instance: String, start: String?, finish: String?,
        _ settings: Settings
    ) -> Int32 {
        TerminationSignals.install()
        let replay: ArchiveReplay
        do {
            replay = try ArchiveReplay(
                archive: archive, instance: instance, start: start, finish: finish,
                prefix: settings.prefix)
        } catch {
            complain("\(error)")
            return Status.failure
        }
        if let warning = replay.warning { complain(warning) }
        var printer = RecordPrinter(
            ids: replay.parameterIDs, stdout: OutputBuffer(.standardOutput),
            stderr: OutputBuffer(.standardError, capacity: 64 << 10), verbose: settings.verbose,
            window: replay.window)
        while true {
            if let sig = TerminationSignals.caught {
                try? printer.out.flush()
                try? printer.err.flush()
                return exitStatus(for: sig)
            }
            let step: ArchiveReplay.Step
            do {
                step = try replay.next(into: &printer)
                try printer.out.flush()
                try? printer.err.flush()
            } catch OutputError.closed {
                printer.out.discard()
                return Status.stdoutClosed
            } catch OutputError.interrupted {
                printer.out.discard()
                return exitStatus(for: TerminationSignals.caught ?? .interrupt)
            } catch OutputError.failed(let errno) {
                complain("\(PipeClientError.cannotWrite(reason: errno.description))")
                return Status.failure
            } catch {
                try? printer.out.flush()
                try? printer.err.flush()
                complain("\(error)")
                return Status.failure
            }
            // A run's instance is never reused: after its end there is no more.
            if step == .end || step == .pastWindow || printer.sawEnd { break }
        }
        // An end before -S is no end of what was replayed.
        if printer.endedBeforeWindow { return printer.lostLines > 0 ? Status.linesLost : 0 }
        return Self.finish(printer, label: instance, verbose: settings.verbose)
    }

    // MARK: - The end

    /// 128+N for signal N, as a shell reports a command the signal ended.
    static func exitStatus(for signal: Signal) -> Int32 { 128 + signal.rawValue }

    private static func finish(_ printer: borrowing RecordPrinter, label: String, verbose: Bool) -> Int32 {
        let status = printer.exitStatus ?? 0
        if printer.endedBeforeWindow {
            complain(
                "'\(label)' had ended before pmpipe attached (status \(status)); "
                    + "--from start prints the lines the agent still keeps")
        }
        if let reason = printer.endReason, verbose || !reason.hasPrefix("exited") {
            complain("'\(label)' \(reason) (status \(status))")
        }
        if printer.lostLines > 0 && status == 0 { return Status.linesLost }
        return status
    }
}

/// The agent's answer to `pipe.control.explain`: lines of `key: value`
/// ending with `verdict: would run` or `verdict: refused: REASON`.
public struct Explanation: Sendable, Equatable {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// The verdict line's text after `verdict: `, if there is one.
    public var verdict: String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let line = lines.last(where: { $0.hasPrefix("verdict:") }) else { return nil }
        return String(line.dropFirst(8)).trimmingASCIIWhitespace()
    }

    /// Whether the agent would run the request.
    public var wouldRun: Bool { verdict == "would run" }
}
