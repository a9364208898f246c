import PipeCore
import Testing

/// Reads a log line back the way a log reader would, strictly: fails on
/// anything the documented format does not allow.
private func parseAuditLine(_ line: String) -> [(key: String, value: String)]? {
    var bytes = Array(line.utf8)[...]
    var fields: [(String, String)] = []
    while !bytes.isEmpty {
        if !fields.isEmpty {
            guard bytes.first == UInt8(ascii: " ") else { return nil }
            bytes = bytes.dropFirst()
        }
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let key = bytes[..<equals]
        guard !key.isEmpty, key.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }) else {
            return nil
        }
        bytes = bytes[(equals + 1)...]
        var value: [UInt8] = []
        if bytes.first == UInt8(ascii: "\"") {
            bytes = bytes.dropFirst()
            while true {
                guard let byte = bytes.first else { return nil }
                bytes = bytes.dropFirst()
                if byte == UInt8(ascii: "\"") { break }
                if byte != UInt8(ascii: "\\") {
                    value.append(byte)
                    continue
                }
                guard let escape = bytes.first else { return nil }
                bytes = bytes.dropFirst()
                switch escape {
                case UInt8(ascii: "n"): value.append(0x0A)
                case UInt8(ascii: "r"): value.append(0x0D)
                case UInt8(ascii: "t"): value.append(0x09)
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): value.append(escape)
                case UInt8(ascii: "x"):
                    guard bytes.count >= 2,
                        let byte = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
                    else { return nil }
                    value.append(byte)
                    bytes = bytes.dropFirst(2)
                default: return nil
                }
            }
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: " ")) ?? bytes.endIndex
            value = Array(bytes[..<end])
            guard !value.isEmpty, !value.contains(UInt8(ascii: "\"")), !value.contains(UInt8(ascii: "=")) else {
                return nil
            }
            bytes = bytes[end...]
        }
        fields.append((String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }
    return fields
}

@Suite struct AuditRecordTests {
    @Test func aCompletedRunIsOneLineOfKeyValuePairs() {
        let record = AuditRecord(
            time: stamp(1_700_000_000, 1234), uid: 1000, gid: 100, user: "alice", host: "local:", context: 3,
            instance: "bdev_trace", parameters: ["sda", "10"], decision: .allowed, pid: 4242,
            termination: .exited(code: 0), duration: .milliseconds(1500), lines: 10, bytes: 120, dropped: 0)
        #expect(
            record.logLine == "time=1700000000.001234 context=3 uid=1000 gid=100 user=alice host=local: "
                + "instance=bdev_trace decision=allowed pid=4242 exit=0 duration=1.500000 lines=10 bytes=120 "
                + "dropped=0 params=2 param1=sda param2=10")
    }

    @Test func aRefusedRequestCarriesItsReasonAndOmitsUnknownFields() {
        let record = AuditRecord(
            time: stamp(5), context: 1, instance: "ls",
            decision: .refused("user 1000 already runs 8 commands (limit 8)"))
        #expect(
            record.logLine == #"time=5.000000 context=1 instance=ls decision=refused "#
                + #"reason="user 1000 already runs 8 commands (limit 8)" lines=0 bytes=0 dropped=0 params=0"#)
    }

    @Test func aSignalAndAStopReasonAreRecorded() {
        let record = AuditRecord(
            time: stamp(5), context: 1, instance: "ls", decision: .allowed,
            termination: .signaled(signal: 15), stopReason: "client closed", duration: .microseconds(250))
        #expect(record.logLine.contains(#" signal=15 stop="client closed" duration=0.000250 "#))
    }

    static let hostileParameters: [String] = [
        "a\nb",
        "x\ntime=0 context=0 uid=0 instance=evil decision=allowed",
        "\" uid=0",
        "\\\" uid=0 \"",
        "uid=0",
        "trailing\\",
        "\r\u{1b}[2J\u{7f}\u{0}\t",
        "",
        " ",
        "naïve ☃ \u{2028}",
        "\\x41",
        "\\n",
    ]

    @Test(arguments: hostileParameters)
    func hostileParametersCannotBreakTheOneLineFormat(_ parameter: String) {
        let record = AuditRecord(
            time: stamp(1), uid: 1000, user: parameter, host: parameter, context: 2, instance: "ls",
            parameters: [parameter, "after"], decision: .refused(parameter), stopReason: parameter)
        let line = record.logLine
        #expect(line.utf8.allSatisfy { (0x20...0x7E).contains($0) }, "only printable ASCII: \(line)")
        guard let fields = parseAuditLine(line) else {
            Issue.record("unparseable: \(line)")
            return
        }
        #expect(
            fields.map(\.key) == [
                "time", "context", "uid", "user", "host", "instance", "decision", "reason", "stop",
                "lines", "bytes", "dropped", "params", "param1", "param2",
            ])
        let values = Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(values["uid"] == "1000")
        #expect(values["user"] == parameter)
        #expect(values["host"] == parameter)
        #expect(values["reason"] == parameter)
        #expect(values["stop"] == parameter)
        #expect(values["param1"] == parameter)
        #expect(values["param2"] == "after")
    }

    @Test func plainValuesStayBareAndOthersAreQuoted() {
        let record = AuditRecord(
            time: stamp(1), context: 2, instance: "ls", parameters: ["-l", "/var/log", "a b", "", "k=v", "é"],
            decision: .allowed)
        #expect(
            record.logLine.hasSuffix(
                #"param1=-l param2=/var/log param3="a b" param4="" param5="k=v" param6="\xc3\xa9""#))
    }
}
