// PipeCore: the agent's pure logic (configuration, access rules, parameters,
// line splitting, queues). It makes no syscalls and imports neither libpcp nor
// Foundation, so it builds and is tested on a machine without PCP.

/// A wall-clock instant with microsecond resolution: what a PCP event record
/// carries (`pmTimeval`). Supplied by the caller; PipeCore never reads a clock.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64
    public var microseconds: Int32

    public init(seconds: Int64, microseconds: Int32) {
        self.seconds = seconds
        self.microseconds = microseconds
    }

    public static let zero = Timestamp(seconds: 0, microseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.seconds, lhs.microseconds) < (rhs.seconds, rhs.microseconds)
    }

    public var description: String {
        let micros = String(microseconds)
        return "\(seconds).\(String(repeating: "0", count: max(0, 6 - micros.count)))\(micros)"
    }
}

/// Which of the command's output streams a line came from.
public enum StreamKind: UInt8, Sendable, Hashable {
    case stdout = 1
    case stderr = 2
}

/// What happens when a client's queue is full.
public enum OverflowPolicy: String, Sendable, Hashable, CaseIterable {
    /// Stop reading the command's pipes until the client catches up: the
    /// command waits on its full pipe and nothing is lost.
    case block
    /// Keep reading; drop the oldest queued lines and tell the client exactly
    /// how many it missed, at the point of the gap.
    case drop
}

/// How a command's process ended, as `waitpid` reports it.
public enum Termination: Sendable, Hashable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    /// The shell's `$?` convention: the exit code, or 128 + the signal number.
    /// pmpipe exits with this value and the end record carries it.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var succeeded: Bool { self == .exited(code: 0) }

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// A size in bytes as written in configuration files and options:
/// a whole number with an optional binary suffix (`k`, `m`, `g`, any case,
/// optionally followed by `b` or `ib`): `4096`, `64k`, `2M`, `1GiB`.
public struct ByteCount: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public static func < (lhs: ByteCount, rhs: ByteCount) -> Bool { lhs.bytes < rhs.bytes }

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case notASize(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .notASize(let text):
                return "'\(text)' is not a size (expected a number with an optional k, m or g suffix, like 64k or 2m)"
            case .tooLarge(let text):
                return "'\(text)' is too large"
            }
        }
    }

    public static func parse(_ text: String) throws(ParseError) -> ByteCount {
        let trimmed = text.trimmingASCIIWhitespace()
        var digits = Substring(trimmed)
        var suffix = ""
        while let last = digits.last, !last.isASCII || !last.isNumber {
            suffix.insert(last, at: suffix.startIndex)
            digits.removeLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits)
        else { throw .notASize(text) }
        let multiplier: Int
        switch suffix.lowercased() {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default: throw .notASize(text)
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw .tooLarge(text) }
        return ByteCount(bytes: product)
    }

    /// The shortest exact spelling: `2m`, `64k`, `1000`.
    public var description: String {
        for (suffix, shift) in [("g", 30), ("m", 20), ("k", 10)] where bytes != 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return String(bytes)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    /// (Foundation's trimmingCharacters is not available here.)
    public func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }),
            let last = lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[first...last])
    }
}
