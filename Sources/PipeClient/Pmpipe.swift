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

    public struct Options: Sendable {
        public var host: String
        public var prefix: String
        public var instance: String
        public var parameters: String
        public var interval: PollInterval
        public var verbose: Bool

        public init(host: String, prefix: String, instance: String, parameters: String,
                    interval: PollInterval, verbose: Bool) {
            self.host = host
            self.prefix = prefix
            self.instance = instance
            self.parameters = parameters
            self.interval = interval
            self.verbose = verbose
        }
    }

    /// Writes `pmpipe: <sentence>` to stderr, unbuffered.
    public static func complain(_ sentence: String) {
        var err = OutputBuffer(.standardError, capacity: 4096)
        try? err.append("pmpipe: \(sentence)\n")
        try? err.flush()
    }

    /// `pmpipe --list`: `NAME<TAB>COMMAND` per configured command.
    public static func list(host: String, prefix: String) -> Int32 {
        TerminationSignals.install()
        var out = OutputBuffer(.standardOutput)
        do {
            let connection = try PipeConnection(host: host, prefix: prefix)
            defer { connection.disconnect() }
            for (instance, command) in try connection.configuredCommands() {
                try out.append("\(instance)\t\(command)\n")
            }
            try out.flush()
            return 0
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
        return Status.failure
    }

    /// `pmpipe -i INSTANCE`: start the run, print it, return its status.
    public static func run(_ options: Options) -> Int32 {
        // Before anything else: a store pmcd would refuse is refused here,
        // with the reason, without connecting.
        let request: StoreRequest
        do {
            request = try StoreRequest(parameters: options.parameters)
        } catch {
            complain("\(error)")
            return Status.failure
        }
        TerminationSignals.install()
        HeapTuning.keepFetchBuffersMapped()

        let connection: PipeConnection
        let run: PipeRun
        do {
            connection = try PipeConnection(host: options.host, prefix: options.prefix)
            run = try connection.start(instance: options.instance, request: request)
        } catch {
            complain("\(error)")
            return TerminationSignals.caught.map(exitStatus(for:)) ?? Status.failure
        }
        defer { connection.disconnect() }

        var printer = RecordPrinter(ids: connection.parameterIDs, stdout: OutputBuffer(.standardOutput),
                                    stderr: OutputBuffer(.standardError, capacity: 64 << 10), verbose: options.verbose)
        while true {
            if let sig = TerminationSignals.caught {
                // Best effort: a reader that stopped reading must not keep
                // us here (write(2) then fails with EINTR and we give up).
                try? printer.out.flush()
                try? printer.err.flush()
                return exitStatus(for: sig)
            }
            let outcome: FetchOutcome
            do {
                outcome = try run.fetch(into: &printer)
                try printer.out.flush()
                try? printer.err.flush()
            } catch OutputError.closed {
                printer.out.discard()
                try? printer.err.flush()
                return Status.stdoutClosed
            } catch OutputError.interrupted {
                printer.out.discard()
                return exitStatus(for: TerminationSignals.caught ?? .interrupt)
            } catch OutputError.failed(let errno) {
                try? printer.err.flush()
                complain("\(PipeClientError.cannotWrite(reason: errno.description))")
                return Status.failure
            } catch {
                // A signal can interrupt pmFetch; then that is the story.
                try? printer.out.flush()
                try? printer.err.flush()
                if let sig = TerminationSignals.caught { return exitStatus(for: sig) }
                complain("\(error)")
                return Status.failure
            }
            switch outcome {
            case .ended:
                return finish(printer, options)
            case .records:
                continue   // drain at full speed
            case .empty:
                // PCP's C agent marks every record after the command exited
                // with END; the stream is over once they stop coming.
                if printer.sawEnd { return finish(printer, options) }
                TerminationSignals.sleep(microseconds: options.interval.microseconds)
            }
        }
    }

    /// 128+N for signal N, as a shell reports a command the signal ended.
    static func exitStatus(for signal: Signal) -> Int32 { 128 + signal.rawValue }

    private static func finish(_ printer: borrowing RecordPrinter, _ options: Options) -> Int32 {
        let status = printer.exitStatus ?? 0
        if let reason = printer.endReason, options.verbose || !reason.hasPrefix("exited") {
            complain("'\(options.instance)' \(reason) (status \(status))")
        }
        if printer.lostLines > 0 && status == 0 { return Status.linesLost }
        return status
    }
}
