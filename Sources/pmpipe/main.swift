// pmpipe: run a command the pipe agent offers and print its output, as if
// it ran here. Argument parsing only; the work is PipeClient's Pmpipe.
import ArgumentParser
import PipeClient

struct PmpipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmpipe",
        abstract: "Run a command offered by the PCP pipe agent and print its output.",
        discussion: """
            pmpipe asks pmcd's pipe agent (metrics pipe.*) to run one of the commands \
            the administrator configured, with your parameters, and prints every line \
            it writes: its stdout on stdout, its stderr on stderr, exactly as written \
            and nothing else. The agent decides whether you may run it; over the \
            default unix: socket pmcd tells it who you are.

            Examples:
              pmpipe -i bdev_trace -x '5 sda'     trace sda for 5 seconds
              pmpipe --list                       show the commands you can ask for
              pmpipe -h unix: -i seq -x '1 3' --prefix cpipe -t 250ms

            Exit status:
              the command's own, as the shell reports it (its exit code, or 128+signal)
              254  lines were lost (the client fell behind) and the command succeeded
              255  pmpipe could not do its job (no pmcd, no agent, no such command,
                   permission denied, bad parameters, ...)
              129, 130, 143  pmpipe got SIGHUP, SIGINT, SIGTERM (the command is stopped)
              141  standard output was closed (the command is stopped)
            """,
        helpNames: [.long, .customShort("?")])

    @Option(name: .customShort("h"), help: ArgumentHelp("The pmcd to ask (unix: is the local socket, which carries your credentials).", valueName: "host"))
    // unix:, not local: (which falls back to TCP without credentials when the
    // socket connect fails, e.g. under a burst of connections).
    var host: String = "unix:"

    @Option(name: .shortAndLong, help: ArgumentHelp("The configured command to run (see --list).", valueName: "instance"))
    var instance: String?

    // .unconditional: like pmval's -x, the next argument is the value even when
    // it starts with '-' (a parameter such as -5 for an instance that allows it).
    @Option(name: .customShort("x"), parsing: .unconditional,
            help: ArgumentHelp("The command's parameters, space separated.", valueName: "params"))
    var parameters: String = ""

    @Option(name: .customShort("t"),
            help: ArgumentHelp("How long to wait after a fetch that found nothing: seconds (0.5) or 250ms, 1s; at least 1ms.",
                               valueName: "interval"),
            transform: parseInterval)
    var interval: PollInterval = .default

    @Flag(help: "Prefix each line with its record's time and flags, and report lost lines in line.")
    var verbose = false

    @Option(help: ArgumentHelp("The agent's metric prefix.", valueName: "name"))
    var prefix: String = "pipe"

    @Flag(help: "List the configured commands: NAME<TAB>COMMAND.")
    var list = false

    func validate() throws {
        if list {
            if instance != nil || !parameters.isEmpty {
                throw ValidationError("--list takes no -i or -x")
            }
        } else if instance == nil {
            throw ValidationError("missing -i <instance>, the configured command to run (see pmpipe --list)")
        }
        if prefix.isEmpty || prefix.contains(where: { $0 == " " || $0 == "\t" }) {
            throw ValidationError("--prefix must be a metric name like pipe")
        }
    }

    func run() throws {
        let status: Int32
        if list {
            status = Pmpipe.list(host: host, prefix: prefix)
        } else {
            status = Pmpipe.run(Pmpipe.Options(
                host: host, prefix: prefix, instance: instance ?? "", parameters: parameters,
                interval: interval, verbose: verbose))
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// `-t`: PollInterval's own message when the text is not an interval.
func parseInterval(_ text: String) throws -> PollInterval {
    do { return try PollInterval.parse(text) } catch { throw ValidationError(error.description) }
}

// Like every other pmpipe failure, a usage error is one sentence prefixed
// "pmpipe: " with status 255 (ArgumentParser's default is a block and 64).
// --help and the command's own exit status pass through unchanged.
do {
    var command = try PmpipeCommand.parseAsRoot()
    try command.run()
} catch let exit as ExitCode {
    PmpipeCommand.exit(withError: exit)
} catch {
    if PmpipeCommand.exitCode(for: error) == .success { PmpipeCommand.exit(withError: error) }
    let message = PmpipeCommand.message(for: error)
    Pmpipe.complain(message.contains("(see ") ? message : "\(message) (see pmpipe --help)")
    PmpipeCommand.exit(withError: ExitCode(Pmpipe.Status.failure))
}
