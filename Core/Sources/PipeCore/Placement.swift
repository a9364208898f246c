// Where a placeholder stands in a command line decides which parameter
// types may fill it. A value that becomes one whole argument of a program
// run without a shell reaches nothing but that program's argument parser.
// A value spliced into text (`/var/log/$1`, `awk '/$1/'`, `sh -c "ls $1"`,
// anything in a shell command line) is read again by whatever reads that
// text, so only plain words of letters and digits may go there: what PCP's
// C agent allowed, and what configurations written for it rely on.

/// How one placeholder occurrence sits in its command line.
public enum Placement: Sendable, Equatable {
    /// A word that is exactly `$N` (or `$0`) in a command line run without
    /// a shell: the value becomes exactly one argument (`$0`: one argument
    /// per parameter).
    case wholeArgument
    /// A whole word `$N` or `"$N"` of a shell command line, outside any
    /// other command's script: the outer shell passes it as one quoted
    /// argument, but a later command of the script (`xargs`, a loop without
    /// quotes) may split it or read it again.
    case wholeShellWord
    /// Spliced into text: part of a larger word, inside single quotes or a
    /// longer double-quoted string, inside another command's script.
    /// `context` says where, for messages: "inside the word '/var/log/$1'".
    case embedded(context: String)

    /// For messages: "as a whole argument", "as a whole word of a shell
    /// command line", or the embedding context.
    public var description: String {
        switch self {
        case .wholeArgument: return "as a whole argument"
        case .wholeShellWord: return "as a whole word of a shell command line"
        case .embedded(let context): return context
        }
    }
}

/// One occurrence of a placeholder in a command line.
public struct PlaceholderUse: Sendable, Equatable {
    /// 1-based parameter number, or 0 for `$0` (all parameters).
    public var number: Int
    public var placement: Placement

    public init(number: Int, placement: Placement) {
        self.number = number
        self.placement = placement
    }

    /// `$1`, `$0`.
    public var name: String { "$\(number)" }
}
