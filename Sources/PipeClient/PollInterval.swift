/// How long pmpipe waits after a fetch that returned no records.
///
/// Accepts the forms PCP users type: a plain number of seconds (`0.5`, `2`)
/// or a number with a unit (`250ms`, `1s`, `100usec`, `1min`). At least 1 ms:
/// anything shorter would only spin against pmcd.
public struct PollInterval: Sendable, Equatable, CustomStringConvertible {
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public static let `default` = PollInterval(microseconds: 100_000)
    public static let minimum = PollInterval(microseconds: 1_000)

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case notAnInterval(String)
        case tooShort(String)

        public var description: String {
            switch self {
            case .notAnInterval(let text):
                return "'\(text)' is not an interval (expected seconds like 0.5, or 250ms, 1s, 1min)"
            case .tooShort(let text):
                return "interval '\(text)' is shorter than the minimum of 1ms"
            }
        }
    }

    public static func parse(_ text: String) throws(ParseError) -> PollInterval {
        let trimmed = text.filter { $0 != " " && $0 != "\t" }
        let split = trimmed.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? trimmed.endIndex
        guard split != trimmed.startIndex else { throw .notAnInterval(text) }
        let number = trimmed[..<split]
        let unit = trimmed[split...].lowercased()
        // Whole and fractional digits by hand: Double parsing would round
        // 0.001 to something just under a millisecond.
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            !(parts.first?.isEmpty ?? true) || (parts.count == 2 && !parts[1].isEmpty)
        else {
            throw .notAnInterval(text)
        }
        let perUnit: Int64
        switch unit {
        case "us", "usec", "usecs", "microsecond", "microseconds": perUnit = 1
        case "ms", "msec", "msecs", "millisecond", "milliseconds": perUnit = 1_000
        case "", "s", "sec", "secs", "second", "seconds": perUnit = 1_000_000
        case "m", "min", "mins", "minute", "minutes": perUnit = 60_000_000
        default: throw .notAnInterval(text)
        }
        guard parts[0].count <= 12 else { throw .notAnInterval(text) }
        var micros = (Int64(parts[0]) ?? 0) * perUnit
        if parts.count == 2 {
            var scale = perUnit
            for digit in parts[1] {
                scale /= 10
                if scale == 0 { break }
                micros += Int64(digit.wholeNumberValue ?? 0) * scale
            }
        }
        guard micros >= minimum.microseconds else { throw .tooShort(text) }
        return PollInterval(microseconds: micros)
    }

    public var description: String {
        if microseconds % 1_000_000 == 0 { return "\(microseconds / 1_000_000)s" }
        if microseconds % 1_000 == 0 { return "\(microseconds / 1_000)ms" }
        return "\(microseconds)us"
    }
}
