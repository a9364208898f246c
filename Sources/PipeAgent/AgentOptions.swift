import PipeCore

/// The agent's command line, in the convention every PCP agent follows
/// (pmdaGetOptions): -d domain, -l log file, -D debug flags, plus this
/// agent's -c, -C and -m.
struct AgentOptions: Equatable {
    var domain: Int32 = 128
    var logFile = "pipe.log"
    var debug: String?
    var configFile: String?
    var checkOnly = false
    var maxMemory = 2 << 20
    var showHelp = false

    /// The smallest per-client queue: one page, as PCP's agent requires.
    static let minimumMemory = 4096

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static let usage = """
        Usage: pmdapipe [options]

        Options:
          -c FILE, --config=FILE   read only this configuration file (default: $PCP_PMDAS_DIR/pipe/pipe.conf
                                   and every file in $PCP_SYSCONF_DIR/pipe.conf.d)
          -C, --check              check the configuration (syntax, users, groups, programs, pins) and exit
          -D DBG, --debug=DBG      set PCP debug options
          -d N, --domain=N         use domain N (default 128)
          -l FILE, --log=FILE      write the log to FILE (default pipe.log in $PCP_LOG_DIR/pmcd)
          -m SIZE, --maxmem=SIZE   default bytes queued per client and command (default 2m; k, m, g suffixes)
          -?, --help               show this help and exit

        """

    static func parse(_ arguments: [String]) throws(UsageError) -> AgentOptions {
        var options = AgentOptions()
        var index = 0
        func value(_ flag: String, inline: String?) throws(UsageError) -> String {
            if let inline { return inline }
            index += 1
            guard index < arguments.count else { throw UsageError(description: "option \(flag) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            var flag = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            } else if argument.count > 2, argument.hasPrefix("-"), !argument.hasPrefix("--") {
                // -d128, -lfile: PCP agents accept values glued to the flag.
                flag = String(argument.prefix(2))
                inline = String(argument.dropFirst(2))
            }
            switch flag {
            case "-c", "--config":
                options.configFile = try value(flag, inline: inline)
            case "-C", "--check":
                options.checkOnly = true
            case "-D", "--debug":
                options.debug = try value(flag, inline: inline)
            case "-d", "--domain":
                let text = try value(flag, inline: inline)
                guard let domain = Int32(text), (1...510).contains(domain) else {
                    throw UsageError(description: "invalid domain '\(text)': expected a number from 1 to 510")
                }
                options.domain = domain
            case "-l", "--log":
                options.logFile = try value(flag, inline: inline)
            case "-m", "--maxmem":
                let text = try value(flag, inline: inline)
                let size: ByteCount
                do { size = try ByteCount.parse(text) } catch {
                    throw UsageError(description: "invalid max memory: \(error)")
                }
                guard size.bytes >= minimumMemory else {
                    throw UsageError(description: "invalid max memory '\(text)': at least \(minimumMemory) bytes")
                }
                options.maxMemory = size.bytes
            case "-?", "--help", "-h":
                options.showHelp = true
            default:
                throw UsageError(description: "unknown option '\(argument)'")
            }
            index += 1
        }
        return options
    }
}
