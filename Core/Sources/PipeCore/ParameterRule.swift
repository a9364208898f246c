/// A sysadmin's restriction on one parameter of one instance, written in the
/// configuration as `param N = integer MIN..MAX`, `param N = pattern REGEX`
/// or `param N = oneof A B C`.
public enum ParameterRule: Sendable, Equatable {
    /// An optional sign and decimal digits, within the range.
    case integer(ClosedRange<Int64>)
    /// A Swift Regex that must match the whole value.
    case pattern(String)
    /// One of a fixed list of values, compared exactly.
    case oneOf([String])

    public static func parse(_ text: String) throws(TemplateError) -> ParameterRule {
        let trimmed = text.trimmingASCIIWhitespace()
        let (kind, rest) = ConfigText.splitFirstWord(trimmed)
        switch kind.lowercased() {
        case "integer":
            let bounds = rest.split(separator: "..", maxSplits: 1, omittingEmptySubsequences: false)
            guard bounds.count == 2,
                  let low = parseInteger(bounds[0].trimmingASCIIWhitespace()),
                  let high = parseInteger(bounds[1].trimmingASCIIWhitespace()) else {
                throw TemplateError("expected 'integer MIN..MAX' with whole numbers, like 'integer 1..60', not '\(trimmed)'")
            }
            guard low <= high else { throw TemplateError("the range \(low)..\(high) is empty: write MIN..MAX") }
            return .integer(low...high)
        case "pattern":
            guard !rest.isEmpty else { throw TemplateError("expected a regular expression after 'pattern'") }
            do {
                _ = try Regex(rest)
            } catch {
                throw TemplateError("'\(rest)' is not a valid regular expression: \(error)")
            }
            // Checks run on the agent's only thread, on text the client chose.
            guard !hasNestedQuantifier(rest) else {
                throw TemplateError("the pattern '\(rest)' repeats a group that itself repeats (like (a+)+): "
                    + "such patterns can take exponential time on hostile input; rewrite it without the nesting")
            }
            return .pattern(rest)
        case "oneof":
            let values = ConfigText.splitList(rest)
            guard !values.isEmpty else { throw TemplateError("expected the allowed values after 'oneof', like 'oneof sda sdb'") }
            return .oneOf(values)
        default:
            throw TemplateError(
                "unknown parameter rule '\(kind)': expected 'integer MIN..MAX', 'pattern REGEX' or 'oneof A B C'")
        }
    }

    /// nil when the value is accepted; otherwise the reason, phrased to follow
    /// "parameter N ('value') ".
    public func check(_ value: String) -> String? {
        switch self {
        case .integer(let range):
            guard Self.isIntegerText(value) else {
                return "is not a whole number (expected an integer from \(range.lowerBound) to \(range.upperBound))"
            }
            guard let number = Int64(value), range.contains(number) else {
                return "is outside the range \(range.lowerBound) to \(range.upperBound)"
            }
            return nil
        case .pattern(let pattern):
            guard let regex = try? Regex(pattern) else { return "cannot be checked: the pattern \(pattern) is invalid" }
            return (try? regex.wholeMatch(in: value)) != nil ? nil : "does not match the pattern \(pattern)"
        case .oneOf(let values):
            return values.contains(value) ? nil : "is not one of: \(values.joined(separator: ", "))"
        }
    }

    /// The rule as the configuration spells it.
    public var text: String {
        switch self {
        case .integer(let range): return "integer \(range.lowerBound)..\(range.upperBound)"
        case .pattern(let pattern): return "pattern \(pattern)"
        case .oneOf(let values): return "oneof \(values.joined(separator: " "))"
        }
    }

    static func isIntegerText(_ text: String) -> Bool {
        var scalars = Substring(text).unicodeScalars[...]
        if let first = scalars.first, first == "+" || first == "-" { scalars = scalars.dropFirst() }
        return !scalars.isEmpty && scalars.allSatisfy(PlaceholderSyntax.isDigit)
    }

    private static func parseInteger(_ text: String) -> Int64? {
        isIntegerText(text) ? Int64(text) : nil
    }

    /// Whether a repeated group contains a repetition, like `(a+)+`, `(\\w*x)*`
    /// or `((ab)?)+`: a backtracking matcher can take exponential time on such
    /// a pattern. Escapes and character classes are skipped; a literal `{`
    /// counts as a repetition, which can only make this more cautious.
    static func hasNestedQuantifier(_ pattern: String) -> Bool {
        let scalars = Array(pattern.unicodeScalars)
        func isQuantifier(_ index: Int) -> Bool {
            index < scalars.count && "*+?{".unicodeScalars.contains(scalars[index])
        }
        var groups: [Bool] = []          // per open group: holds a repetition
        var index = 0
        while index < scalars.count {
            switch scalars[index] {
            case "\\":
                index += 2
                continue
            case "[":
                index += 1
                if index < scalars.count, scalars[index] == "^" { index += 1 }
                if index < scalars.count, scalars[index] == "]" { index += 1 }
                while index < scalars.count, scalars[index] != "]" {
                    index += scalars[index] == "\\" ? 2 : 1
                }
            case "(":
                groups.append(false)
                if index + 1 < scalars.count, scalars[index + 1] == "?" { index += 1 }   // (?: (?i) ...
            case ")":
                let holdsRepetition = groups.popLast() ?? false
                let repeated = isQuantifier(index + 1)
                if repeated && holdsRepetition { return true }
                if (repeated || holdsRepetition), !groups.isEmpty { groups[groups.count - 1] = true }
            case "*", "+", "?", "{":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            default:
                break
            }
            index += 1
        }
        return false
    }
}
