// The audit trail: one log line per request, allowed or refused. Parameters
// come from unprivileged clients, so the format must survive hostile input:
// a parameter can never end the line, start a new one, or look like a field.

/// One request, as the audit log records it.
///
/// `logLine` renders it as space-separated `key=value` pairs on one line, in
/// a fixed order: `time`, `context`, `uid`, `gid`, `user`, `host`,
/// `instance`, `decision`, `reason` (refused only), `pid`, `exit` or
/// `signal`, `stop`, `duration`, `lines`, `bytes`, `dropped`, then `params`
/// (the count) and `param1`, `param2`, ... Fields whose value is unknown
/// (nil) are left out.
///
/// A value made only of printable ASCII other than `"`, `\` and `=` is
/// written bare. Any other value (empty, or with a space, quote, backslash,
/// `=`, control character or non-ASCII byte) is written in double quotes,
/// with `\"`, `\\`, `\n`, `\r`, `\t`, and `\xHH` (exactly two hex digits) for
/// every other byte below 0x20, 0x7F and every UTF-8 byte of a non-ASCII
/// character. So the line holds only printable ASCII, and a quoted value ends
/// at the first `"` not preceded by a backslash.
public struct AuditRecord: Sendable {
    /// What the agent decided about the request.
    public enum Decision: Sendable, Hashable {
        case allowed
        /// Refused, with the reason the client was given.
        case refused(String)
    }

    public var time: Timestamp
    public var uid: UInt32?
    public var gid: UInt32?
    public var user: String?
    public var host: String?
    /// The PCP client context number.
    public var context: Int32
    public var instance: String
    public var parameters: [String]
    public var decision: Decision
    public var pid: Int32?
    public var termination: Termination?
    /// Why the agent stopped the command, if it did (client gone, timeout, ...).
    public var stopReason: String?
    public var duration: Duration?
    public var lines: UInt64
    public var bytes: UInt64
    public var dropped: UInt64
    /// How the client authenticated (`unix`, `sasl`, `none`).
    public var authentication: String?

    /// Values longer than this many UTF-8 bytes are cut, with a note of how
    /// much was left out: a client chooses its parameters and a refused
    /// request's reason quotes them, and the log must not grow by whatever a
    /// client sends.
    public static let maximumValueBytes = 256
    /// Parameters after this many are counted, not written.
    public static let maximumLoggedParameters = 16

    public init(
        time: Timestamp, uid: UInt32? = nil, gid: UInt32? = nil, user: String? = nil, host: String? = nil,
        context: Int32, instance: String, parameters: [String] = [], decision: Decision,
        pid: Int32? = nil, termination: Termination? = nil, stopReason: String? = nil, duration: Duration? = nil,
        lines: UInt64 = 0, bytes: UInt64 = 0, dropped: UInt64 = 0
    ) {
        self.time = time
        self.uid = uid
        self.gid = gid
        self.user = user
        self.host = host
        self.context = context
        self.instance = instance
        self.parameters = parameters
        self.decision = decision
        self.pid = pid
        self.termination = termination
        self.stopReason = stopReason
        self.duration = duration
        self.lines = lines
        self.bytes = bytes
        self.dropped = dropped
    }

    /// The record as one line of printable ASCII, without a trailing newline.
    public var logLine: String {
        var line = ""
        func add(_ key: String, _ value: String) {
            if !line.isEmpty { line += " " }
            line += key
            line += "="
            Self.appendValue(Self.capped(value), to: &line)
        }
        add("time", time.description)
        add("context", String(context))
        if let uid { add("uid", String(uid)) }
        if let gid { add("gid", String(gid)) }
        if let user { add("user", user) }
        if let authentication { add("auth", authentication) }
        if let host { add("host", host) }
        add("instance", instance)
        switch decision {
        case .allowed:
            add("decision", "allowed")
        case .refused(let reason):
            add("decision", "refused")
            add("reason", reason)
        }
        if let pid { add("pid", String(pid)) }
        switch termination {
        case .exited(let code)?: add("exit", String(code))
        case .signaled(let signal)?: add("signal", String(signal))
        case nil: break
        }
        if let stopReason { add("stop", stopReason) }
        if let duration { add("duration", Self.seconds(duration)) }
        add("lines", String(lines))
        add("bytes", String(bytes))
        add("dropped", String(dropped))
        add("params", String(parameters.count))
        for (index, parameter) in parameters.prefix(Self.maximumLoggedParameters).enumerated() {
            add("param\(index + 1)", parameter)
        }
        if parameters.count > Self.maximumLoggedParameters {
            add("unlogged", String(parameters.count - Self.maximumLoggedParameters))
        }
        return line
    }

    /// `value`, or its first `maximumValueBytes` bytes (whole characters)
    /// and a note of how many bytes were left out.
    public static func capped(_ value: String) -> String {
        let utf8 = value.utf8
        guard utf8.count > maximumValueBytes else { return value }
        var kept = ""
        var used = 0
        for scalar in value.unicodeScalars {
            let size = String(scalar).utf8.count
            if used + size > maximumValueBytes { break }
            kept.unicodeScalars.append(scalar)
            used += size
        }
        return kept + "...(\(utf8.count - used) more bytes)"
    }

    // MARK: - Formatting

    /// Appends `value` bare if that is unambiguous, else quoted and escaped.
    public static func appendValue(_ value: String, to line: inout String) {
        let utf8 = value.utf8
        if !utf8.isEmpty && utf8.allSatisfy(isBare) {
            line += value
            return
        }
        var quoted: [UInt8] = [UInt8(ascii: "\"")]
        quoted.reserveCapacity(utf8.count + 2)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): quoted += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): quoted += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): quoted += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): quoted += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): quoted += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x20...0x7E: quoted.append(byte)
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                quoted += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        quoted.append(UInt8(ascii: "\""))
        line += String(decoding: quoted, as: UTF8.self)
    }

    /// Printable ASCII that cannot be mistaken for a separator, a quote, an
    /// escape or a key.
    private static func isBare(_ byte: UInt8) -> Bool {
        byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
            && byte != UInt8(ascii: "=")
    }

    /// Seconds with microseconds, like `Timestamp`: `1.500000`, `-0.000250`.
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        // components keeps both parts the same sign; work in microseconds.
        let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        let magnitude = micros.magnitude
        let fraction = String(magnitude % 1_000_000)
        return (micros < 0 ? "-" : "") + String(magnitude / 1_000_000) + "."
            + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}
