// A zero-copy reader for a packed pmEventArray, as pmFetch leaves it in the
// value block of an event metric (host byte order).
//
// pmUnpackEventRecords mallocs a pmResult per record and a value set per
// parameter; at a million lines that dominates pmpipe's time. This walks the
// bytes in place instead. It is pure Swift over a raw buffer: no libpcp call,
// no syscall, so it can be fed hand-built arrays.
//
// Layout (offsets pinned by _Static_asserts in cpcp.h):
//   0  header word (ea_type:8 / ea_len:24 bitfields)   4  ea_nrecords (int32)
//   8  records, each:
//        0 tv_sec (int32)  4 tv_usec (int32)  8 er_flags (uint32)  12 er_nparams (int32)
//       16 er_nparams parameters, each:
//            0 ep_pmid (uint32)  4 word (ep_type:8 / ep_len:24)  8 value
//          ep_len counts the word and the value; the value is padded to a
//          multiple of 4 bytes (PM_PDU_SIZE_BYTES).
//   A record whose flags are exactly PM_EVENT_FLAG_MISSED has no parameters:
//   er_nparams is the number of records the agent dropped at that point.

import PipeCore

// TypeLengthLayout (PipeCore) says where the type and length bitfields sit.

/// Why an event array could not be read. Reported, never trapped on: the
/// bytes come from another process.
public enum EventArrayError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooShort(Int)
    case notAnEventArray(type: UInt32)
    case badLength(declared: Int, available: Int)
    case badRecordCount(Int32)
    case recordOverrun(record: Int)
    case badParameterCount(record: Int, count: Int32)
    case parameterOverrun(record: Int, parameter: Int)
    case badParameterLength(record: Int, parameter: Int, length: Int)

    public var description: String {
        switch self {
        case .tooShort(let n): return "event array of \(n) bytes is shorter than its header"
        case .notAnEventArray(let type): return "value of type \(type) is not an event array"
        case .badLength(let declared, let available):
            return "event array claims \(declared) bytes but \(available) arrived"
        case .badRecordCount(let n): return "event array claims \(n) records"
        case .recordOverrun(let r): return "event record \(r) runs past the end of the array"
        case .badParameterCount(let r, let n): return "event record \(r) claims \(n) parameters"
        case .parameterOverrun(let r, let p):
            return "parameter \(p) of event record \(r) runs past the end of the array"
        case .badParameterLength(let r, let p, let len):
            return "parameter \(p) of event record \(r) has impossible length \(len)"
        }
    }
}

/// One parameter of a record. `value` points into the fetched array and is
/// valid only inside the decoding callback.
public struct EventParameter {
    public var pmid: UInt32
    public var type: UInt32
    public var value: UnsafeRawBufferPointer

    /// The value read as a 32-bit integer (PM_TYPE_32 / PM_TYPE_U32), if it
    /// has at least four bytes.
    public var int32Value: Int32? {
        value.count >= 4 ? value.loadUnaligned(fromByteOffset: 0, as: Int32.self) : nil
    }
}

/// One record of the array: a view valid only inside the decoding callback.
public struct EventRecord {
    /// PM_EVENT_FLAG_MISSED and PM_EVENT_FLAG_END, spelled here for the
    /// pure decoder and for the hot loop (PipeConnection checks them
    /// against libpcp's).
    public static let missedFlag = EventRecordLayout.missedFlag
    public static let endFlag = EventRecordLayout.endFlag

    public var seconds: Int32
    public var microseconds: Int32
    public var flags: UInt32
    /// Records the agent dropped at this point (a MISSED record), else 0.
    public var missed: Int
    /// The number of parameters (0 for a MISSED record).
    public var parameterCount: Int

    let base: UnsafeRawBufferPointer
    let parametersOffset: Int
    let layout: TypeLengthLayout

    /// The first parameter; only for a record with `parameterCount > 0`.
    /// Bounds were checked when the record was decoded.
    @inline(__always)
    public var firstParameter: EventParameter {
        precondition(parameterCount > 0)
        return parameter(at: parametersOffset)
    }

    @inline(__always)
    func parameter(at offset: Int) -> EventParameter {
        let pmid = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        let word = base.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
        let length = layout.length(of: word)
        let value = UnsafeRawBufferPointer(rebasing: base[(offset + 8)..<(offset + 4 + length)])
        return EventParameter(pmid: pmid, type: layout.type(of: word), value: value)
    }

    /// Calls `body` for each parameter in order. Bounds were checked when the
    /// record was decoded.
    @inline(__always)
    public func forEachParameter(_ body: (EventParameter) throws -> Void) rethrows {
        var offset = parametersOffset
        for _ in 0..<parameterCount {
            let parameter = parameter(at: offset)
            try body(parameter)
            offset += 8 + EventArrayDecoder.padded(parameter.value.count)
        }
    }
}

/// Receives the records of an array, in order.
///
/// A protocol rather than a closure: the decoder is then specialised for its
/// handler (RecordPrinter) and the per-record call inlined, and a
/// noncopyable handler is passed `inout`, so its state needs no runtime
/// exclusivity checks.
public protocol EventRecordHandler: ~Copyable {
    mutating func handle(_ record: EventRecord) throws
}

/// Reads a packed pmEventArray in place.
public enum EventArrayDecoder {
    // The layout's sizes are the writer's (PipeCore's EventArrayEncoder):
    // one definition for the agent that writes arrays and pmpipe that reads them.
    public static let eventType = EventRecordLayout.eventType
    static let headerSize = EventRecordLayout.arrayHeaderSize
    static let recordHeaderSize = EventRecordLayout.recordHeaderSize
    static let parameterHeaderSize = EventRecordLayout.parameterHeaderSize

    @inline(__always)
    static func padded(_ n: Int) -> Int { EventRecordLayout.padded(n) }

    /// The first, checking pass: takes every record and does nothing.
    struct Checker: EventRecordHandler {
        @inline(__always)
        mutating func handle(_ record: EventRecord) {}
    }

    /// Checks the whole array, then hands each record to `handler` in order.
    /// A malformed array throws `EventArrayError` before any record is
    /// delivered, so a caller never prints half of a bad array. Returns the
    /// number of records.
    @discardableResult
    public static func decode<Handler: EventRecordHandler & ~Copyable>(
        _ array: UnsafeRawBufferPointer,
        layout: TypeLengthLayout,
        into handler: inout Handler
    ) throws -> Int {
        var checker = Checker()
        let count = try walk(array, layout: layout, into: &checker)
        if count > 0 {
            try walk(array, layout: layout, into: &handler)
        }
        return count
    }

    @discardableResult
    static func walk<Handler: EventRecordHandler & ~Copyable>(
        _ array: UnsafeRawBufferPointer,
        layout: TypeLengthLayout,
        into handler: inout Handler
    ) throws -> Int {
        guard array.count >= headerSize else { throw EventArrayError.tooShort(array.count) }
        let header = array.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let type = layout.type(of: header)
        guard type == eventType else { throw EventArrayError.notAnEventArray(type: type) }
        let declared = layout.length(of: header)
        guard declared >= headerSize, declared <= array.count else {
            throw EventArrayError.badLength(declared: declared, available: array.count)
        }
        let end = declared
        let nrecords = array.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        guard nrecords >= 0 else { throw EventArrayError.badRecordCount(nrecords) }

        var offset = headerSize
        for r in 0..<Int(nrecords) {
            guard end - offset >= recordHeaderSize else { throw EventArrayError.recordOverrun(record: r) }
            let seconds = array.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let micros = array.loadUnaligned(fromByteOffset: offset + 4, as: Int32.self)
            let flags = array.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let nparams = array.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self)
            guard nparams >= 0 else { throw EventArrayError.badParameterCount(record: r, count: nparams) }
            offset += recordHeaderSize

            // Like libpcp: MISSED with any other flag is malformed, and its
            // er_nparams is a count, not parameters.
            if flags & EventRecord.missedFlag != 0 {
                guard flags == EventRecord.missedFlag else {
                    throw EventArrayError.badParameterCount(record: r, count: nparams)
                }
                try handler.handle(EventRecord(seconds: seconds, microseconds: micros, flags: flags,
                                     missed: Int(nparams), parameterCount: 0,
                                     base: array, parametersOffset: offset, layout: layout))
                continue
            }

            let parametersOffset = offset
            for p in 0..<Int(nparams) {
                guard end - offset >= parameterHeaderSize else {
                    throw EventArrayError.parameterOverrun(record: r, parameter: p)
                }
                let word = array.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                let length = layout.length(of: word)
                guard length >= 4 else {
                    throw EventArrayError.badParameterLength(record: r, parameter: p, length: length)
                }
                let size = 4 + padded(length)
                guard end - offset >= size else {
                    throw EventArrayError.parameterOverrun(record: r, parameter: p)
                }
                offset += size
            }
            try handler.handle(EventRecord(seconds: seconds, microseconds: micros, flags: flags,
                                 missed: 0, parameterCount: Int(nparams),
                                 base: array, parametersOffset: parametersOffset, layout: layout))
        }
        // Bytes after the last record are tolerated, as libpcp's own checker
        // (__pmCheckEventRecords) does.
        return Int(nrecords)
    }
}
