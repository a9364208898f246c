/// The agent's answer to a store into `pipe.control.start` or
/// `pipe.control.stop`, fetched once from the same metric in the same
/// context: a JSON object of one string, `{"run":"NAME.SEQ"}`,
/// `{"stopped":"NAME.SEQ"}` (with `"already":"finished"` when the run had
/// ended before the store) or `{"error":"..."}`.
public enum ControlReply: Sendable, Equatable {
    case run(String)
    case stopped(String, alreadyFinished: Bool)
    case error(String)

    /// Reads the agent's reply; nil for anything else (another agent, a
    /// garbled value).
    public static func parse(_ text: String) -> ControlReply? {
        guard let object = JSONStringObject.parse(text) else { return nil }
        if let message = object["error"] { return .error(message) }
        if let run = object["run"] { return .run(run) }
        if let run = object["stopped"] { return .stopped(run, alreadyFinished: object["already"] == "finished") }
        return nil
    }
}

/// A JSON object whose values are all strings: all the control replies
/// need, so no general JSON parser (and no Foundation) for it.
enum JSONStringObject {
    static func parse(_ text: String) -> [String: String]? {
        var reader = Reader(Array(text.unicodeScalars))
        reader.skipBlanks()
        guard reader.take("{") else { return nil }
        var object: [String: String] = [:]
        reader.skipBlanks()
        if reader.take("}") { return reader.atEndAfterBlanks ? object : nil }
        while true {
            reader.skipBlanks()
            guard let key = reader.string() else { return nil }
            reader.skipBlanks()
            guard reader.take(":") else { return nil }
            reader.skipBlanks()
            guard let value = reader.string() else { return nil }
            object[key] = value
            reader.skipBlanks()
            if reader.take(",") { continue }
            guard reader.take("}") else { return nil }
            return reader.atEndAfterBlanks ? object : nil
        }
    }

    private struct Reader {
        let scalars: [Unicode.Scalar]
        var index = 0

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        mutating func skipBlanks() {
            while index < scalars.count, [" ", "\t", "\n", "\r"].contains(scalars[index]) { index += 1 }
        }

        var atEndAfterBlanks: Bool {
            mutating get {
                skipBlanks()
                return index == scalars.count
            }
        }

        mutating func take(_ scalar: Unicode.Scalar) -> Bool {
            guard index < scalars.count, scalars[index] == scalar else { return false }
            index += 1
            return true
        }

        /// A JSON string with its escapes (a surrogate pair in \u escapes
        /// included).
        mutating func string() -> String? {
            guard take("\"") else { return nil }
            var out = String.UnicodeScalarView()
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\"":
                    return String(out)
                case "\\":
                    guard index < scalars.count else { return nil }
                    let escape = scalars[index]
                    index += 1
                    switch escape {
                    case "\"", "\\", "/": out.append(escape)
                    case "n": out.append("\n")
                    case "r": out.append("\r")
                    case "t": out.append("\t")
                    case "b": out.append("\u{8}")
                    case "f": out.append("\u{C}")
                    case "u":
                        guard var code = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(code), take("\\"), take("u"), let low = hex4(),
                            (0xDC00..<0xE000).contains(low)
                        {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                    default:
                        return nil
                    }
                default:
                    out.append(scalar)
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard index + 4 <= scalars.count else { return nil }
            var value: UInt32 = 0
            for scalar in scalars[index..<index + 4] {
                guard let digit = Int(String(scalar), radix: 16) else { return nil }
                value = value * 16 + UInt32(digit)
            }
            index += 4
            return value
        }
    }
}
