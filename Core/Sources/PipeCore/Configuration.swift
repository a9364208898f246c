/// The agent's whole configuration, parsed once from one or more files
/// (`pipe.conf` and then `pipe.conf.d/*`) into an immutable value.
///
/// The file format is PCP's pipe agent format, extended with sections:
///
/// ```
/// # instance   user   command
/// rw_syscalls  root   perf script rw-by-file $1
/// bdev_trace   root   btrace -w $1 /dev/$2
///
/// [access]
/// allow user bob : *;
/// allow group perf : rw_syscalls;
///
/// [limits]
/// max_running = 16
///
/// [instance bdev_trace]
/// param 1 = integer 1..60
/// param 2 = pattern [a-z]+[0-9]*
/// timeout = 5m
/// ```
///
/// Every file starts in the commands section. Errors from all files are
/// collected, each with its file and line; unknown directives are errors.
public struct Configuration: Sendable {
    /// In file order, files in the order given.
    public var commands: [CommandSpec]
    /// In file order.
    public var rules: [AccessRule]
    public var limits: GlobalLimits
    public var warnings: [ConfigDiagnostic]

    public init(commands: [CommandSpec], rules: [AccessRule], limits: GlobalLimits, warnings: [ConfigDiagnostic]) {
        self.commands = commands
        self.rules = rules
        self.limits = limits
        self.warnings = warnings
    }

    public func command(named name: String) -> CommandSpec? {
        commands.first { $0.name == name }
    }

    /// Collects all errors from all files, never stops at the first.
    public static func parse(_ sources: [ConfigSource]) throws(ConfigErrors) -> Configuration {
        var parser = ConfigParser()
        for (index, source) in sources.enumerated() {
            parser.parseFile(source, fileIndex: index)
        }
        return try parser.finish()
    }

    public static let empty = Configuration(commands: [], rules: [], limits: GlobalLimits(), warnings: [])
}
