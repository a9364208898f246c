// pmpipe: run a command the pipe agent offers and print its output, as if
// it ran here. Argument parsing only; PipeClient's PmpipeArguments decides
// which mode the options select, and Pmpipe does the work.
import ArgumentParser
import PipeClient

struct PmpipeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmpipe",
        abstract: "Run a command offered by the PCP pipe agent and print its output.",
        usage: """
            pmpipe [-h <host>] -i <instance> [-x <params>]
            pmpipe [-h <host>] --shared -i <instance> [-x <params>]
            pmpipe [-h <host>] --attach <run> [--from now|start]
            pmpipe [-h <host>] --explain -i <instance> [-x <params>]
            pmpipe [-h <host>] --list | --runs | --stop <run>
            pmpipe -a <archive> -i <run> [-S <time>] [-T <time>]
            """,
        discussion: """
            pmpipe asks pmcd's pipe agent (metrics pipe.*) to run one of the commands \
            the administrator configured, with your parameters, and prints every line \
            it writes: its stdout on stdout, its stderr on stderr, exactly as written \
            and nothing else. The agent decides whether you may run it; over the \
            default unix: socket pmcd tells it who you are.

            A run started with -i is yours alone and stops when pmpipe stops. A shared \
            run (--shared, for commands configured with shared = yes) is named \
            NAME.SEQ and goes on when pmpipe detaches: you can --attach to it again, \
            users a read rule names can follow it too, and pmlogger can archive it \
            (pipe.run.records) for -a to replay.

            Examples:
              pmpipe --list                       the commands you may run, with the
                                                  types of their parameters
              pmpipe -i bdev_trace -x '5 sda'     trace sda for 5 seconds
              pmpipe --explain -i bdev_trace -x '5 sda'
                                                  what would run, as whom, and why
                                                  (nothing runs)
              pmpipe --shared -i bdev_trace -x '600 sda'
                                                  start a shared run and follow it;
                                                  Ctrl-C detaches, the run goes on
              pmpipe --runs                       the shared runs you may read
              pmpipe --attach bdev_trace.3        follow a shared run from now on
              pmpipe --attach bdev_trace.3 --from start
                                                  ... from the oldest line kept
              pmpipe --stop bdev_trace.3          stop a shared run you started
              pmpipe -a /var/log/pcp/pmlogger/db1/20250101 -i bdev_trace.3 \\
                     -S @10:00 -T @10:05          replay a run's lines from a
                                                  pmlogger archive, 10:00 to 10:05
              pmpipe -h 'pcp://db1?username=bob' -i bdev_trace -x '5 sda'
                                                  on host db1, logged in as bob
                                                  (SASL; pmpipe asks the password)

            -S and -T take PCP's time syntax (PCPIntro(1)): @TIME or a date for an \
            absolute time, +10m from the archive's start, -10m before its end; local \
            time. Over TCP (-h HOST) pmcd passes who you are only after a SASL login: \
            without one the agent refuses every request.

            Exit status:
              the command's own, as the shell reports it (its exit code, or 128+signal):
                   for -i, --shared, --attach, and -a when the archive holds the end
              0    --list, --runs, --stop done; --explain: the request would run;
                   -a of a window without the run's end
              254  lines were lost (the client fell behind) and the command succeeded
              255  pmpipe could not do its job (no pmcd, no agent, no such command
                   or run, permission denied, bad parameters, ...); --explain: the
                   request would be refused; --stop: the agent refused
              129, 130, 143  pmpipe got SIGHUP, SIGINT, SIGTERM: a private run is
                   stopped, a shared run goes on (pmpipe says how to stop it)
              141  standard output was closed (likewise)
            """,
        helpNames: [.long, .customShort("?")])

    @Option(
        name: .customShort("h"),
        help: ArgumentHelp(
            "The pmcd to ask (default unix:, the local socket, which carries your credentials; "
                + "pcp://HOST?username=USER logs in with SASL).", valueName: "host"))
    // unix:, not local: (which falls back to TCP without credentials when the
    // socket connect fails, e.g. under a burst of connections).
    var host: String?

    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The configured command to run (see --list); with -a, the run to replay (NAME.SEQ).",
            valueName: "instance"))
    var instance: String?

    // .unconditional: like pmval's -x, the next argument is the value even when
    // it starts with '-' (a parameter such as -5 for an instance that allows it).
    @Option(
        name: .customShort("x"), parsing: .unconditional,
        help: ArgumentHelp("The command's parameters, space separated.", valueName: "params"))
    var parameters: String?

    @Option(
        name: .customShort("t"),
        help: ArgumentHelp(
            "How long to wait after a fetch that found nothing: seconds (0.5) or 250ms, 1s; at least 1ms.",
            valueName: "interval"),
        transform: parseInterval)
    var interval: PollInterval = .default

    @Flag(help: "Prefix each line with its record's time and flags, and report lost lines in line.")
    var verbose = false

    @Option(help: ArgumentHelp("The agent's metric prefix.", valueName: "name"))
    var prefix: String = "pipe"

    @Flag(help: "List the commands you may run: NAME<TAB>COMMAND, then the parameter types, indented.")
    var list = false

    @Flag(help: "Show what -i with -x would run, as whom, and why or why not, without running it.")
    var explain = false

    @Flag(help: "Start a shared run of -i and follow it; detaching leaves it running.")
    var shared = false

    @Option(help: ArgumentHelp("Follow the shared run RUN until it ends.", valueName: "run"))
    var attach: String?

    @Option(
        help: ArgumentHelp(
            "With --attach: print from now (default) or from the oldest line the agent keeps.",
            valueName: "now|start"))
    var from: AttachStart?

    @Flag(help: "List the shared runs you may read.")
    var runs = false

    @Option(help: ArgumentHelp("Stop the shared run RUN (its owner or root).", valueName: "run"))
    var stop: String?

    @Option(
        name: [.customShort("a"), .customLong("archive")],
        help: ArgumentHelp(
            "Replay -i's lines from this pmlogger archive instead of asking pmcd.",
            valueName: "archive"))
    var archive: String?

    // .unconditional: -T -10m (ten minutes before the archive's end).
    @Option(
        name: [.customShort("S"), .customLong("start")], parsing: .unconditional,
        help: ArgumentHelp("With -a: the start of the time window.", valueName: "time"))
    var start: String?

    @Option(
        name: [.customShort("T"), .customLong("finish")], parsing: .unconditional,
        help: ArgumentHelp("With -a: the end of the time window.", valueName: "time"))
    var finish: String?

    var arguments: PmpipeArguments {
        var arguments = PmpipeArguments()
        arguments.host = host
        arguments.instance = instance
        arguments.parameters = parameters
        arguments.explain = explain
        arguments.list = list
        arguments.shared = shared
        arguments.runs = runs
        arguments.attach = attach
        arguments.from = from
        arguments.stop = stop
        arguments.archive = archive
        arguments.start = start
        arguments.finish = finish
        return arguments
    }

    // The options' agreement is checked in run(), not here: ArgumentParser
    // calls validate() before it reports an unknown option, which would then
    // hide behind "missing -i" (pmpipe --bogus).
    func validate() throws {
        if prefix.isEmpty || prefix.contains(where: { $0 == " " || $0 == "\t" }) {
            throw ValidationError("--prefix must be a metric name like pipe")
        }
    }

    func run() throws {
        let mode: PmpipeMode
        do { mode = try arguments.mode() } catch { throw ValidationError(error.description) }
        let status = Pmpipe.perform(
            mode,
            Pmpipe.Settings(
                host: host ?? "unix:", prefix: prefix,
                interval: interval, verbose: verbose))
        if status != 0 { throw ExitCode(status) }
    }
}

extension AttachStart: ExpressibleByArgument {}

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
