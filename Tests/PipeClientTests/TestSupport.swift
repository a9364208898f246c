import Glibc
import PipeCore
import PipeSystem

@testable import PipeClient

/// An unlinked temporary file to stand in for stdout/stderr.
final class ScratchFile {
    let fd: Int32

    init() {
        var template = Array("/tmp/pipeclient-test-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0, "mkstemp failed")
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    deinit { close(fd) }

    var descriptor: FileDescriptor { FileDescriptor(rawValue: fd) }

    /// Everything written so far.
    var contents: [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
            offset += off_t(n)
        }
        return bytes
    }

    var text: String { String(decoding: contents, as: UTF8.self) }
}

/// Parameter IDs for hand-built records (any distinct values do).
let testIDs = EventParameterIDs(
    line: 101, errline: 102, rawline: 103, rawerrline: 104,
    continued: 105, noeol: 108, exitstatus: 106, endreason: 107)

/// Builds a packed pmEventArray as pmFetch leaves it (host byte order).
struct EventArrayBuilder {
    var layout = TypeLengthLayout.rightToLeft
    private var body: [UInt8] = []
    private var count: Int32 = 0

    static let stringType: UInt32 = 6  // PM_TYPE_STRING
    static let int32Type: UInt32 = 0  // PM_TYPE_32

    mutating func record(
        flags: UInt32 = 0, at time: (seconds: Int32, microseconds: Int32) = (1_700_000_000, 0),
        _ parameters: [(pmid: UInt32, value: [UInt8])]
    ) {
        append(time.seconds)
        append(time.microseconds)
        append(flags)
        append(Int32(parameters.count))
        for (pmid, value) in parameters {
            append(pmid)
            append(layout.word(type: Self.stringType, length: 4 + value.count))
            body += value
            body += [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
        }
        count += 1
    }

    mutating func line(
        _ text: String, flags: UInt32 = 0,
        at time: (seconds: Int32, microseconds: Int32) = (1_700_000_000, 0)
    ) {
        record(flags: flags, at: time, [(testIDs.line, Array(text.utf8))])
    }

    mutating func missed(_ n: Int32, at time: (seconds: Int32, microseconds: Int32) = (0, 0)) {
        append(time.seconds)
        append(time.microseconds)
        append(EventRecordLayout.missedFlag)
        append(n)
        count += 1
    }

    /// Appends raw bytes (for malformed arrays).
    mutating func raw(_ bytes: [UInt8]) { body += bytes }

    var bytes: [UInt8] {
        var header: [UInt8] = []
        withUnsafeBytes(of: layout.word(type: EventRecordLayout.eventType, length: 8 + body.count)) { header += $0 }
        withUnsafeBytes(of: count) { header += $0 }
        return header + body
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { body += $0 }
    }
}

func int32Bytes(_ value: Int32) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }
