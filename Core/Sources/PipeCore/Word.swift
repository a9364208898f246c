/// One argument of a direct (shell-free) command template: literal text and
/// placeholders, concatenated. `btrace -w $1 /dev/$2` has the words
/// `btrace`, `-w`, `$1` and `/dev/` + `$2`.
public struct Word: Sendable, Equatable {
    public var pieces: [WordPiece]

    public init(pieces: [WordPiece]) { self.pieces = pieces }

    /// A word made of one literal piece.
    public init(literal: String) { self.pieces = [.literal(literal)] }

    var containsPlaceholder: Bool {
        pieces.contains { if case .literal = $0 { return false } else { return true } }
    }

    /// The word as written: `/dev/$2`.
    var text: String {
        pieces.map { piece in
            switch piece {
            case .literal(let literal): return literal
            case .parameter(let number): return "$\(number)"
            case .allParameters: return "$0"
            }
        }.joined()
    }
}

/// A piece of a `Word`.
public enum WordPiece: Sendable, Equatable {
    /// Text the sysadmin wrote.
    case literal(String)
    /// `$N` or `${N}`: the client's parameter N (1-based).
    case parameter(Int)
    /// `$0`: all the client's parameters.
    case allParameters
}
