/// Small lexical helpers shared by the configuration parser and the
/// parameter rules. They work on Unicode scalars, as the shell and the C
/// library do, never on grapheme clusters (a quote followed by a combining
/// mark is still a quote).
public enum ConfigText {
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// The first run of non-blanks, and the rest of the text without the
    /// blanks that follow it (trailing blanks are kept).
    public static func splitFirstWord(_ text: String) -> (word: String, rest: String) {
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

    /// What an instance name may be, for messages.
    static let instanceNameRule = "use printable characters without blanks, not starting with '[' or '#'"

    /// Any printable characters without blanks (PCP's agent took any
    /// non-blank word: its QA test 879 uses `;34@#bleurg`), not starting with
    /// `[` (a section header) or `#` (a comment).
    static func isInstanceName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != "[" && first != "#" else { return false }
        return name.unicodeScalars.allSatisfy { !isBlank($0) && $0.properties.generalCategory != .control }
    }

    /// The line without a comment: a `#` at the start or after a blank
    /// starts one (`[access]   # who may run what`,
    /// `allow user root : hello  # admins`); a `#` inside a word does not.
    static func strippingComment(_ line: String) -> String {
        let scalars = Array(line.unicodeScalars)
        for index in scalars.indices where scalars[index] == "#" && (index == 0 || isBlank(scalars[index - 1])) {
            return string(scalars[..<index]).trimmingASCIIWhitespace()
        }
        return line
    }

    /// A commands line without a trailing comment, read as the shell reads
    /// one: a `#` that starts a word outside quotes begins a comment;
    /// `a#b`, `'# x'`, `"# x"` and `\#` do not. PCP's agent handed such a
    /// comment to /bin/sh, which ignored it too.
    static func strippingShellComment(_ line: String) -> String {
        let scalars = Array(line.unicodeScalars)
        var quote: Unicode.Scalar?
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if let open = quote {
                if scalar == open { quote = nil } else if scalar == "\\" && open == "\"" { index += 1 }
            } else if scalar == "'" || scalar == "\"" {
                quote = scalar
            } else if scalar == "\\" {
                index += 1
            } else if scalar == "#" && (index == 0 || isBlank(scalars[index - 1])) {
                return string(scalars[..<index]).trimmingASCIIWhitespace()
            }
            index += 1
        }
        return line
    }

    /// A whole number above zero, decimal digits only.
    static func positiveInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy(PlaceholderSyntax.isDigit),
            let value = Int(text), value > 0
        else { return nil }
        return value
    }

    /// A duration as the configuration would spell it: `500ms`, `3s`,
    /// `1.5s`, `5m`, `2h`.
    static func durationText(_ duration: Duration) -> String {
        let nanoseconds = duration.wholeNanoseconds
        let units: [(UInt64, String)] = [
            (3_600_000_000_000, "h"), (60_000_000_000, "m"), (1_000_000_000, "s"), (1_000_000, "ms"),
        ]
        for (size, suffix) in units where nanoseconds >= size && nanoseconds % size == 0 {
            return "\(nanoseconds / size)\(suffix)"
        }
        if nanoseconds >= 1_000_000_000 {
            let tenths = (nanoseconds + 50_000_000) / 100_000_000
            return "\(tenths / 10).\(tenths % 10)s"
        }
        return "\(nanoseconds / 1_000_000)ms"
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
        while cursor < scalars.count, PlaceholderSyntax.isDigit(scalars[cursor]) || scalars[cursor] == "." {
            cursor += 1
        }
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

extension Duration {
    /// As the configuration would spell it: `500ms`, `3s`, `5m`, `2h`.
    public var configurationText: String { ConfigText.durationText(self) }
}
