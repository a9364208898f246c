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
    public var warnings: [Diagnostic]
    /// Where each `[limits]` setting was made, for messages about its value
    /// (an unknown `reserved_group`).
    public var limitLocations: [LimitDirective: SourceLocation]

    public init(
        commands: [CommandSpec], rules: [AccessRule], limits: GlobalLimits, warnings: [Diagnostic],
        limitLocations: [LimitDirective: SourceLocation] = [:]
    ) {
        self.commands = commands
        self.rules = rules
        self.limits = limits
        self.warnings = warnings
        self.limitLocations = limitLocations
    }

    public func command(named name: String) -> CommandSpec? {
        commands.first { $0.name == name }
    }

    /// Collects all errors from all files, never stops at the first.
    /// Patterns are compiled by `engine`, once.
    public static func parse(_ sources: [ConfigSource], engine: any PatternEngine) throws(ConfigurationErrors)
        -> Configuration
    {
        var parser = ConfigParser(engine: engine)
        for (order, source) in sources.enumerated() {
            parser.parseFile(source, order: order)
        }
        return try parser.finish()
    }

    /// For start-up: one bad drop-in must not leave the agent with no
    /// commands. Parses `sources`; while there are errors, leaves out every
    /// file that has one and parses the rest again (leaving a file out can
    /// break another that refers to its commands, which is then left out
    /// too). Returns the configuration of the files that remain (possibly
    /// none) and the errors of each file left out, in load order.
    public static func parseSkippingBadFiles(_ sources: [ConfigSource], engine: any PatternEngine)
        -> (configuration: Configuration, refused: [(file: String, errors: [Diagnostic])])
    {
        var remaining = sources
        var refused: [(file: String, errors: [Diagnostic])] = []
        while true {
            do {
                return (try parse(remaining, engine: engine), refused)
            } catch {
                let bad = Set(error.files)
                let unlocated = error.errors.filter { $0.location == nil }
                guard !bad.isEmpty, unlocated.isEmpty else {
                    refused.append(("(all files)", error.errors))
                    return (.empty, refused)
                }
                for file in error.files {
                    refused.append((file, error.errors.filter { $0.location?.file == file }))
                }
                remaining.removeAll { bad.contains($0.name) }
            }
        }
    }

    public static let empty = Configuration(commands: [], rules: [], limits: GlobalLimits(), warnings: [])
}
