/// Why a client's parameters were refused. Each description is one sentence
/// that names the parameter (1-based) and the reason, fit to show the client.
public enum ParameterError: Error, Sendable, Equatable, CustomStringConvertible {
    case notUTF8
    case controlCharacter(parameter: Int, scalar: UInt32)
    case unterminatedQuote
    case danglingBackslash
    case tooMany(max: Int, got: Int)
    case tooFew(needed: Int, got: Int)
    case tooLong(parameter: Int, max: Int)
    case leadingDash(parameter: Int)
    /// The value failed its type; `suggestion` says which setting would
    /// allow it when the type is the default.
    case rejected(parameter: Int, value: String, reason: String, suggestion: String? = nil)

    public var description: String {
        switch self {
        case .notUTF8:
            return "the parameters are not valid UTF-8 text"
        case .controlCharacter(let parameter, let scalar):
            return
                "parameter \(parameter) contains the control character \(Self.codePoint(scalar)), which is not allowed"
        case .unterminatedQuote:
            return "a quote in the parameters is never closed"
        case .danglingBackslash:
            return "the parameters end with a backslash that escapes nothing"
        case .tooMany(let max, let got):
            if max == 0 { return "this command takes no parameters but got \(got)" }
            return "this command takes at most \(Self.count(max)) but got \(got)"
        case .tooFew(let needed, let got):
            let range = needed == 1 ? "$1" : "$1 to $\(needed)"
            return "this command needs \(Self.count(needed)) (\(range)) but got \(got)"
        case .tooLong(let parameter, let max):
            return "parameter \(parameter) is longer than the limit of \(max) bytes"
        case .leadingDash(let parameter):
            return "parameter \(parameter) starts with '-', which the command could take as an option, "
                + "and this command does not allow that"
        case .rejected(let parameter, let value, let reason, let suggestion):
            let sentence = "parameter \(parameter) ('\(Self.shortened(value))') \(reason)"
            guard let suggestion else { return sentence }
            return "\(sentence); \(suggestion)"
        }
    }

    private static func count(_ number: Int) -> String {
        number == 1 ? "1 parameter" : "\(number) parameters"
    }

    private static func codePoint(_ scalar: UInt32) -> String {
        let hex = String(scalar, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Long values are cut so that one refusal stays one readable line.
    private static func shortened(_ value: String) -> String {
        value.count <= 60 ? value : String(value.prefix(57)) + "..."
    }
}
