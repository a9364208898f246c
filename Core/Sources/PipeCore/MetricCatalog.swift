// The one table of the agent's metrics: names, PMIDs, types, semantics,
// units, instance domains and help text. The agent builds its pmdaMetric
// table and fetch dispatch from it, and pmdas/pipe/pmns and help are
// generated from it (a unit test keeps the committed files equal). Adding a
// metric is one row here plus its value in the agent's MetricValues.

/// PCP value types (PM_TYPE_* in pmapi.h; the agent's tests check these
/// numbers against the header).
public enum MetricType: Int32, Sendable {
    case int32 = 0, uint32 = 1, int64 = 2, uint64 = 3, double = 5, string = 6, aggregate = 7, event = 9
}

/// PM_SEM_* in pmapi.h.
public enum MetricSemantics: Int32, Sendable {
    case counter = 1, instant = 3, discrete = 4
}

/// The dimension and scale of a metric's values (pmUnits in pmapi.h).
public struct MetricUnits: Sendable, Equatable {
    public var dimSpace: Int32 = 0
    public var dimTime: Int32 = 0
    public var dimCount: Int32 = 0
    /// PM_SPACE_BYTE is 0.
    public var scaleSpace: Int32 = 0
    /// PM_TIME_SEC is 3.
    public var scaleTime: Int32 = 0
    /// PM_COUNT_ONE is 0.
    public var scaleCount: Int32 = 0

    public static let none = MetricUnits()
    public static let bytes = MetricUnits(dimSpace: 1)
    public static let count = MetricUnits(dimCount: 1)
    public static let seconds = MetricUnits(dimTime: 1, scaleTime: 3)
}

/// The instance domains, by serial.
public enum MetricIndom: UInt32, Sendable {
    /// The configured commands (PIPE.0, as in PCP's C agent).
    case commands = 0
    /// Shared runs, named NAME.SEQ (PIPE.1).
    case runs = 1
}

/// Every metric of the agent. Cluster 0 mirrors PCP's C pipe agent item for
/// item (same PMIDs, types and semantics), so existing tools and archives
/// keep working; the other clusters are this agent's.
public enum Metric: String, CaseIterable, Sendable {
    // Cluster 0: PCP's C agent.
    case numclients, maxmemory, commands, line, firehose
    case queueMemused = "queue.memused", queueCount = "queue.count", queueBytes = "queue.bytes"
    case queueNumclients = "queue.numclients"
    // Cluster 1: event parameters and per-client state.
    case errline, rawline, rawerrline, continued, exitstatus, endreason, lasterror, laststatus, noeol, paramtypes
    // Cluster 2: per-command totals over all clients.
    case runsActive = "runs.active", runsStarted = "runs.started", runsFailed = "runs.failed"
    case runsRefused = "runs.refused", runsLines = "runs.lines", runsBytes = "runs.bytes"
    case runsDropped = "runs.dropped", runsExitstatus = "runs.exitstatus"
    // Cluster 3: configuration.
    case configReloads = "config.reloads", configFailures = "config.failures"
    // Cluster 4: control metrics that string-only clients (pmproxy) can store.
    case controlStart = "control.start", controlStop = "control.stop", controlExplain = "control.explain"
    case controlLaunch = "control.launch"
    // Cluster 5: shared runs.
    case runRecords = "run.records", runText = "run.text", runTail = "run.tail", runStatus = "run.status"
    case runExitstatus = "run.exitstatus", runOwner = "run.owner", runCommand = "run.command"
    case runParams = "run.params", runStarted = "run.started", runLines = "run.lines", runBytes = "run.bytes"
    case runDropped = "run.dropped"

    /// The full name under the agent's root: `pipe.queue.memused`.
    public var name: String { "pipe.\(rawValue)" }

    public var cluster: UInt32 { Self.rows[self]!.cluster }
    public var item: UInt32 { Self.rows[self]!.item }
    public var type: MetricType { Self.rows[self]!.type }
    public var semantics: MetricSemantics { Self.rows[self]!.semantics }
    public var units: MetricUnits { Self.rows[self]!.units }
    /// nil: a single value (PM_INDOM_NULL).
    public var indom: MetricIndom? { Self.rows[self]!.indom }
    public var oneLineHelp: String { Self.rows[self]!.oneLine }
    public var longHelp: String { Self.rows[self]!.long }

    /// Whether the metric only appears as a parameter inside event records
    /// (fetched directly it has no value).
    public var isEventParameter: Bool {
        switch self {
        case .line, .errline, .rawline, .rawerrline, .continued, .exitstatus, .endreason, .noeol: return true
        default: return false
        }
    }

    /// The metric with this cluster and item.
    public static func lookup(cluster: UInt32, item: UInt32) -> Metric? { byID[(cluster << 10) | item] }

    private static let byID: [UInt32: Metric] = {
        var table: [UInt32: Metric] = [:]
        for metric in allCases { table[(metric.cluster << 10) | metric.item] = metric }
        return table
    }()

    struct Row {
        let cluster: UInt32, item: UInt32
        let type: MetricType, semantics: MetricSemantics, units: MetricUnits, indom: MetricIndom?
        let oneLine: String, long: String
    }

    // swiftlint:disable line_length
    static let rows: [Metric: Row] = [
        .numclients: Row(
            cluster: 0, item: 0, type: .uint32, semantics: .instant, units: .count, indom: nil,
            oneLine: "Number of client contexts attached to the pipe agent", long: ""),
        .maxmemory: Row(
            cluster: 0, item: 1, type: .uint64, semantics: .discrete, units: .bytes, indom: nil,
            oneLine: "Default maximum bytes queued for each client",
            long: """
                The per-client queue limit set by the agent's -m option.  A command's
                [instance] section may set its own limit with "queue = SIZE".
                """),
        .commands: Row(
            cluster: 0, item: 2, type: .string, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Command line of each configured command",
            long: """
                The command line as written in the configuration file, with its $1..$N
                parameter placeholders.  A client sees the command lines of the commands
                it may run (root sees all).
                """),
        .line: Row(
            cluster: 0, item: 3, type: .string, semantics: .discrete, units: .none, indom: nil,
            oneLine: "One line of a command's standard output",
            long: """
                Event record parameter of pipe.firehose and pipe.run.records: the bytes of
                one output line without its newline (a carriage return before the newline
                is kept).  Fetched directly it has no value.
                """),
        .firehose: Row(
            cluster: 0, item: 4, type: .event, semantics: .instant, units: .none, indom: .commands,
            oneLine: "Output of a command started for this client, as event records",
            long: """
                Store the parameters into an instance to start that command for your client
                context, for example:
                    pmval -x '5 sda' -i bdev_trace pipe.firehose
                    pmevent -x '5 sda' -i bdev_trace pipe.firehose
                    pmpipe -i bdev_trace -x '5 sda'
                The agent checks the client's user and groups against the [access] rules,
                checks the parameters, and runs the command as its configured user.  Each
                output line becomes one event record (parameter pipe.line; stderr lines
                use pipe.errline), visible only to the client that started it.  The first
                record is flagged "start", the last "end" (carrying pipe.exitstatus and
                pipe.endreason); after that a fetch returns PM_ERR_NOTCONN, which pmval and
                pmevent take as the end of the stream.  Disconnecting stops the command.
                """),
        .queueMemused: Row(
            cluster: 0, item: 5, type: .uint64, semantics: .instant, units: .bytes, indom: .commands,
            oneLine: "Bytes queued for this client's run of each command",
            long: "Memory held for output lines not yet fetched by the calling client."),
        .queueCount: Row(
            cluster: 0, item: 6, type: .uint32, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Lines read from this client's run of each command", long: ""),
        .queueBytes: Row(
            cluster: 0, item: 7, type: .uint64, semantics: .counter, units: .bytes, indom: .commands,
            oneLine: "Bytes read from this client's run of each command", long: ""),
        .queueNumclients: Row(
            cluster: 0, item: 8, type: .uint32, semantics: .instant, units: .count, indom: .commands,
            oneLine: "Number of clients reading each of this client's queues",
            long: """
                Queues are per client, so this is 1 while the calling client has a run of
                the command and 0 otherwise.
                """),
        .errline: Row(
            cluster: 1, item: 0, type: .string, semantics: .discrete, units: .none, indom: nil,
            oneLine: "One line of a command's standard error",
            long: """
                Event record parameter: a line the command wrote to stderr, kept apart from
                pipe.line so that stdout stays exactly the command's output.
                """),
        .rawline: Row(
            cluster: 1, item: 1, type: .aggregate, semantics: .discrete, units: .none, indom: nil,
            oneLine: "One line of standard output that contains NUL bytes",
            long: """
                Event record parameter, used instead of pipe.line when a line holds bytes
                that a string cannot carry; the value is the exact bytes.
                """),
        .rawerrline: Row(
            cluster: 1, item: 2, type: .aggregate, semantics: .discrete, units: .none, indom: nil,
            oneLine: "One line of standard error that contains NUL bytes",
            long: "Event record parameter, like pipe.rawline for stderr."),
        .continued: Row(
            cluster: 1, item: 3, type: .uint32, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Marks a piece of an over-long line",
            long: """
                Event record parameter, present (value 1) when the line is longer than the
                command's max_line setting: the record holds one piece and the next record
                from the same stream continues it.  No bytes are dropped.
                """),
        .exitstatus: Row(
            cluster: 1, item: 4, type: .int32, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Exit status of a run, on its end record",
            long: """
                Event record parameter of the end record of each run.  The shell's
                convention: the exit code, or 128 plus the signal number for a command
                ended by a signal.
                """),
        .endreason: Row(
            cluster: 1, item: 5, type: .string, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Why a run ended",
            long: """
                Event record parameter of a run's end record: "exited", "killed by signal
                N", or "stopped: ..." when the agent stopped it (client gone, time limit,
                idle limit, output limit, agent shutdown).
                """),
        .lasterror: Row(
            cluster: 1, item: 6, type: .string, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Why the agent refused this client's last request",
            long: """
                One sentence for the calling client's last refused store for each command
                (bad parameters, access denied, a limit reached, an unknown user ...).
                pmpipe prints it; it is also logged.
                """),
        .laststatus: Row(
            cluster: 1, item: 7, type: .int32, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Exit status of this client's last run of each command",
            long: "The shell's convention, as pipe.exitstatus, for the calling client context."),
        .noeol: Row(
            cluster: 1, item: 8, type: .uint32, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Marks a last line that had no newline",
            long: """
                Event record parameter, present (value 1) on the last line of a stream when
                the command's output did not end with a newline, so that a client can
                reproduce the output byte for byte (pmpipe does).
                """),
        .paramtypes: Row(
            cluster: 1, item: 9, type: .string, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "What each parameter of each command may hold",
            long: """
                One line per placeholder, "$1 integer 1..60", from the command's
                "param N = TYPE" settings; a parameter without one is "alnum" (ASCII
                letters and digits).  A client sees the commands it may run (root all).
                """),
        .runsActive: Row(
            cluster: 2, item: 0, type: .uint32, semantics: .instant, units: .count, indom: .commands,
            oneLine: "Number of runs of each command now in progress, all clients", long: ""),
        .runsStarted: Row(
            cluster: 2, item: 1, type: .uint64, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Number of runs of each command started, all clients", long: ""),
        .runsFailed: Row(
            cluster: 2, item: 2, type: .uint64, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Number of runs of each command that ended unsuccessfully",
            long: "Runs whose exit status was not 0, including runs the agent stopped."),
        .runsRefused: Row(
            cluster: 2, item: 3, type: .uint64, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Number of requests for each command that were refused",
            long: """
                Access denied, bad parameters, limits reached or a command that could not
                be started.
                """),
        .runsLines: Row(
            cluster: 2, item: 4, type: .uint64, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Lines read from each command, all clients", long: ""),
        .runsBytes: Row(
            cluster: 2, item: 5, type: .uint64, semantics: .counter, units: .bytes, indom: .commands,
            oneLine: "Bytes read from each command, all clients", long: ""),
        .runsDropped: Row(
            cluster: 2, item: 6, type: .uint64, semantics: .counter, units: .count, indom: .commands,
            oneLine: "Lines dropped from each command's client queues",
            long: """
                Only commands configured with "overflow = drop" (and shared runs whose
                readers fall behind) drop lines, and each affected client is told exactly
                how many it missed.
                """),
        .runsExitstatus: Row(
            cluster: 2, item: 7, type: .int32, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Exit status of the last finished run of each command",
            long: "Shell convention, as pipe.exitstatus, over all clients."),
        .configReloads: Row(
            cluster: 3, item: 0, type: .uint32, semantics: .counter, units: .count, indom: nil,
            oneLine: "Number of configuration reloads (SIGHUP) that succeeded", long: ""),
        .configFailures: Row(
            cluster: 3, item: 1, type: .uint32, semantics: .counter, units: .count, indom: nil,
            oneLine: "Number of configurations refused, whole or in part",
            long: """
                A rejected reload leaves the previous configuration in force; at start-up a
                file with errors is left out.  The reasons are in the agent's log.
                """),
        .controlStart: Row(
            cluster: 4, item: 0, type: .string, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Store parameters here to start a shared run of a command",
            long: """
                For commands configured with "shared = yes".  The same access and parameter
                checks as pipe.firehose apply.  A fetch in the same client context then
                returns, once, {"run":"NAME.SEQ"} or {"error":"..."}; the run's output is
                in pipe.run.records[NAME.SEQ] and pipe.run.text[NAME.SEQ].  A string
                metric, so pmproxy's REST API and dashboards can store it.
                """),
        .controlStop: Row(
            cluster: 4, item: 1, type: .string, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Store a run name here to stop that shared run",
            long: """
                Only the user who started the run and root may stop it.  A fetch in the
                same context returns, once, {"stopped":"NAME.SEQ"} or {"error":"..."};
                {"already":"finished","stopped":"NAME.SEQ"} when the run had already ended.
                """),
        .controlExplain: Row(
            cluster: 4, item: 2, type: .string, semantics: .discrete, units: .none, indom: .commands,
            oneLine: "Store parameters here to see what a request would do, without running it",
            long: """
                A fetch in the same context returns the explanation once: the argument
                vector or shell script that would run, the user, the access rule that
                decides, and each parameter's check.  pmpipe --explain uses it.
                """),
        .controlLaunch: Row(
            cluster: 4, item: 3, type: .string, semantics: .discrete, units: .none, indom: nil,
            oneLine: "Store \"COMMAND PARAMETERS\" here to start a shared run (for pmproxy)",
            long: """
                The same as pipe.control.start[COMMAND] with PARAMETERS, for clients that
                cannot store a string into one instance of a metric: pmproxy's REST API
                (libpcp_web) sends such a string as an in-situ value that carries no text,
                but stores into a metric without instances correctly.  A fetch in the same
                context returns, once, {"run":"NAME.SEQ"} or {"error":"..."}.
                """),
        .runRecords: Row(
            cluster: 5, item: 0, type: .event, semantics: .instant, units: .none, indom: .runs,
            oneLine: "Output of each shared run, as event records",
            long: """
                Each client context has its own read position: a fetch returns the lines
                since that context's previous fetch, with the parameters of pipe.firehose.
                The first fetch starts at the oldest line still buffered, after a "missed"
                record counting the earlier lines if some had already left.  A context that
                falls behind the run's buffer gets a "missed" record with the exact number
                of lines it lost.  pmlogger archives runs this way.  Only runs the context
                may read have values.
                """),
        .runText: Row(
            cluster: 5, item: 1, type: .string, semantics: .instant, units: .none, indom: .runs,
            oneLine: "New lines of each shared run, as text",
            long: """
                The lines since this context's previous fetch, joined with newlines, at
                most 64 KiB and cut at a line boundary (the rest comes with the next
                fetch).  For pmproxy's REST API and dashboards, which cannot carry event
                records.
                """),
        .runTail: Row(
            cluster: 5, item: 2, type: .string, semantics: .instant, units: .none, indom: .runs,
            oneLine: "The last lines of each shared run",
            long: "The run's last \"tail\" lines (its [instance] setting), whatever was fetched before."),
        .runStatus: Row(
            cluster: 5, item: 3, type: .string, semantics: .instant, units: .none, indom: .runs,
            oneLine: "State of each shared run: running, stopping, stopped, exited or failed", long: ""),
        .runExitstatus: Row(
            cluster: 5, item: 4, type: .int32, semantics: .discrete, units: .none, indom: .runs,
            oneLine: "Exit status of each finished shared run (shell convention)", long: ""),
        .runOwner: Row(
            cluster: 5, item: 5, type: .string, semantics: .discrete, units: .none, indom: .runs,
            oneLine: "User who started each shared run (the agent, for autostart runs)", long: ""),
        .runCommand: Row(
            cluster: 5, item: 6, type: .string, semantics: .discrete, units: .none, indom: .runs,
            oneLine: "Configured command of each shared run", long: ""),
        .runParams: Row(
            cluster: 5, item: 7, type: .string, semantics: .discrete, units: .none, indom: .runs,
            oneLine: "Parameters of each shared run, as the command received them", long: ""),
        .runStarted: Row(
            cluster: 5, item: 8, type: .uint64, semantics: .discrete, units: .seconds, indom: .runs,
            oneLine: "Start time of each shared run, in seconds since the epoch", long: ""),
        .runLines: Row(
            cluster: 5, item: 9, type: .uint64, semantics: .counter, units: .count, indom: .runs,
            oneLine: "Lines read from each shared run", long: ""),
        .runBytes: Row(
            cluster: 5, item: 10, type: .uint64, semantics: .counter, units: .bytes, indom: .runs,
            oneLine: "Bytes read from each shared run", long: ""),
        .runDropped: Row(
            cluster: 5, item: 11, type: .uint64, semantics: .counter, units: .count, indom: .runs,
            oneLine: "Lines of each shared run that left its buffer before a following reader got them",
            long: """
                Lines a context that was already reading the run lost because it fell
                behind, each line counted once however many contexts lost it.  Lines that
                left before a context's first fetch are not its loss and are not counted.
                """),
    ]
    // swiftlint:enable line_length

    /// Help for the instance domains, by serial.
    public static let indomHelp: [(MetricIndom, String, String)] = [
        (
            .commands, "Commands configured for the pipe agent",
            """
            One instance per command line in pipe.conf and pipe.conf.d/*, named by the
            first word of the line.  Instance numbers are kept across restarts and
            configuration reloads.
            """
        ),
        (
            .runs, "Shared runs of the pipe agent's commands",
            """
            One instance per shared run, named NAME.SEQ after its command and a number
            never reused.  A finished run stays for its command's "retain" time.
            """
        ),
    ]
}
