import ArgumentParser
import PipeCore

/// The agent's command line, in the convention of PCP's agents
/// (pmdaGetOptions(3)): -d domain, -l log file, -D debug flags, plus -c,
/// -C and -m. Values may be glued to their flag (`-d128`), as pmcd.conf
/// lines often have them.
struct AgentOptions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pmdapipe",
        abstract: "The pipe agent: runs the commands of pipe.conf for the clients its [access] rules allow.",
        discussion: """
            pmcd starts the agent (see $PCP_PMDAS_DIR/pipe/Install). Run it by hand only
            with -C, to check the configuration, or --help.
            """,
        helpNames: [.long, .customShort("?")])

    @Option(
        name: [.customShort("c", allowingJoined: true), .customLong("config")],
        help: ArgumentHelp(
            "Read only this configuration file (default: $PCP_PMDAS_DIR/pipe/pipe.conf and every file in $PCP_SYSCONF_DIR/pipe.conf.d).",
            valueName: "file"))
    var config: String?

    @Flag(
        name: [.customShort("C"), .customLong("check")],
        help: "Check the configuration (syntax, users, groups, programs, pins) and exit 0 or 1.")
    var check = false

    @Option(
        name: [.customShort("D", allowingJoined: true), .customLong("debug")],
        help: ArgumentHelp("Set PCP debug options.", valueName: "options"))
    var debug: String?

    @Option(
        name: [.customShort("d", allowingJoined: true), .customLong("domain")],
        help: ArgumentHelp("Use this performance metrics domain.", valueName: "n"))
    var domain: Int32 = 128

    @Option(
        name: [.customShort("l", allowingJoined: true), .customLong("log")],
        help: ArgumentHelp("Write the log to this file (relative: in $PCP_LOG_DIR/pmcd).", valueName: "file"))
    var log = "pipe.log"

    @Option(
        name: [.customShort("m", allowingJoined: true), .customLong("maxmem")],
        help: ArgumentHelp("Default bytes queued per client and command (k, m, g suffixes).", valueName: "size"),
        transform: AgentOptions.queueSize)
    var maxMemory: Int = 2 << 20

    /// The smallest per-client queue: one page, as PCP's agent requires.
    static let minimumMemory = 4096

    func validate() throws {
        guard (1...510).contains(domain) else {
            throw ValidationError("-d must be a domain from 1 to 510, not \(domain)")
        }
    }

    static func queueSize(_ text: String) throws -> Int {
        let size: ByteCount
        do { size = try ByteCount.parse(text) } catch { throw ValidationError("-m: \(error)") }
        guard size.bytes >= minimumMemory else {
            throw ValidationError("-m must be at least \(minimumMemory) bytes, not \(text)")
        }
        return size.bytes
    }
}
