/// Small lexical helpers shared by the configuration parser and the
/// parameter rules. They work on Unicode scalars, as the shell and the C
/// library do, never on grapheme clusters (a quote followed by a combining
/// mark is still a quote).
enum ConfigText {
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// The first run of non-blanks, and the rest of the text without the
    /// blanks that follow it (trailing blanks are kept).
    static func splitFirstWord(_ text: String) -> (word: String, rest: String) {
        let scalars = Array(text.unicodeScalars)
        var start = 0
        while start < scalars.count, isBlank(scalars[start]) { start += 1 }
        var end = start
        while end < scalars.count, !isBlank(scalars[end]) { end += 1 }
        var rest = end
        while rest < scalars.count, isBlank(scalars[rest]) { rest += 1 }
        return (string(scalars[start..<end]), string(scalars[rest...]))
    }

    /// Items separated by blanks and/or commas; empty items are dropped.
    static func splitList(_ text: String) -> [String] {
        text.unicodeScalars
            .split(whereSeparator: { isBlank($0) || $0 == "," })
            .map { string($0) }
    }

    /// `key = value`, both trimmed; the key's inner blanks collapse to one
    /// space and it is lowercased (`param  1` is `param 1`).
    static func splitKeyValue(_ text: String) -> (key: String, value: String)? {
        guard let equals = text.unicodeScalars.firstIndex(of: "=") else { return nil }
        let key = string(text.unicodeScalars[..<equals])
        let value = string(text.unicodeScalars[text.unicodeScalars.index(after: equals)...])
        let words = key.unicodeScalars.split(whereSeparator: isBlank).map { string($0).lowercased() }
        return (words.joined(separator: " "), value.trimmingASCIIWhitespace())
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]*`
    static func isInstanceName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, isNameScalar(first) && first != "." && first != "-" else { return false }
        return scalars.allSatisfy(isNameScalar)
    }

    private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
            || scalar == "_" || scalar == "." || scalar == "-"
    }

    /// A whole number above zero, decimal digits only.
    static func positiveInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy(PlaceholderSyntax.isDigit),
              let value = Int(text), value > 0 else { return nil }
        return value
    }

    static func yesNo(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes": return true
        case "no": return false
        default: return nil
        }
    }

    /// `500ms`, `30s`, `5m`, `1h`, or a plain number of seconds; decimals
    /// allowed (`1.5s`). nil when malformed or too large.
    static func duration(_ text: String) -> Duration? {
        let scalars = Array(text.lowercased().unicodeScalars)
        var cursor = 0
        while cursor < scalars.count, PlaceholderSyntax.isDigit(scalars[cursor]) || scalars[cursor] == "." { cursor += 1 }
        let number = string(scalars[..<cursor])
        let unit = string(scalars[cursor...]).trimmingASCIIWhitespace()
        let nanosPerUnit: Int64
        switch unit {
        case "ms": nanosPerUnit = 1_000_000
        case "", "s": nanosPerUnit = 1_000_000_000
        case "m": nanosPerUnit = 60_000_000_000
        case "h": nanosPerUnit = 3_600_000_000_000
        default: return nil
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty || (parts.count == 2 && !parts[1].isEmpty) else { return nil }
        let whole = parts[0].isEmpty ? 0 : Int64(parts[0])
        guard let whole else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard digits.count <= 9, digits.isEmpty || Int64(digits) != nil else { return nil }
            // Nine digits of the unit's fraction, times the unit in milliseconds' millionths:
            // integer arithmetic only (PipeCore links no libm), and no overflow for hours.
            var billionths = digits.isEmpty ? 0 : Int64(digits)!
            for _ in digits.count..<9 { billionths *= 10 }
            fraction = billionths * (nanosPerUnit / 1_000_000) / 1000
        }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: nanosPerUnit)
        guard !overflow else { return nil }
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        guard !overflow2 else { return nil }
        return .nanoseconds(total)
    }
}
