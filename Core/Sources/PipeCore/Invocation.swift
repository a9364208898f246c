/// A command ready to run: what to execute and its complete argument vector.
///
/// Every client parameter is exactly one element of `arguments` (or, for a
/// shell command, one positional parameter after the script); client text is
/// never part of `program` and never part of a shell script.
public struct Invocation: Sendable, Equatable {
    /// The program as the configuration names it: `/bin/sh` for a shell
    /// command, otherwise the first word of the command line (the caller
    /// resolves a bare name against a fixed PATH).
    public var program: String
    /// The full argument vector, `argv[0]` included.
    public var arguments: [String]
    /// True when `program` is `/bin/sh -c <script>`.
    public var usesShell: Bool

    public init(program: String, arguments: [String], usesShell: Bool) {
        self.program = program
        self.arguments = arguments
        self.usesShell = usesShell
    }
}
