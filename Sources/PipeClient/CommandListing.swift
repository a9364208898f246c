/// One command the caller may run, as `pmpipe --list` shows it.
public struct CommandEntry: Sendable, Equatable {
    /// The instance name (`-i`).
    public var name: String
    /// The configured command line, with its `$1..$N` placeholders.
    public var commandLine: String
    /// What each placeholder may hold (`$1 integer 1..60`), one per line of
    /// `pipe.paramtypes`; empty for a command without parameters.
    public var parameterTypes: [String]

    public init(name: String, commandLine: String, parameterTypes: [String] = []) {
        self.name = name
        self.commandLine = commandLine
        self.parameterTypes = parameterTypes
    }
}

/// `pmpipe --list`'s layout: per command a first line `NAME<TAB>COMMAND`
/// (what scripts read: `grep -v '^ '` keeps exactly these lines), then its
/// parameter types indented below it.
public enum CommandListing {
    public static let typeIndent = "    "

    public static func format(_ commands: [CommandEntry]) -> String {
        var text = ""
        for command in commands {
            text += "\(command.name)\t\(command.commandLine)\n"
            for type in command.parameterTypes { text += typeIndent + type + "\n" }
        }
        return text
    }

    /// `pipe.paramtypes`' value split into its lines (blank lines dropped).
    public static func parameterTypes(from value: String?) -> [String] {
        guard let value else { return [] }
        return value.split(separator: "\n", omittingEmptySubsequences: true)
            .map { String($0).trimmingTrailingCarriageReturn() }
            .filter { !$0.isEmpty }
    }
}

extension String {
    fileprivate func trimmingTrailingCarriageReturn() -> String {
        hasSuffix("\r") ? String(dropLast()) : self
    }
}
