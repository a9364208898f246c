// The reading side of the event-record wire format (EventRecordLayout): a
// zero-copy reader for a packed pmEventArray, as pmFetch leaves it in the
// value block of an event metric.
//
// pmUnpackEventRecords mallocs a pmResult per record and a value set per
// parameter; at a million lines that dominates pmpipe's time. This walks the
// bytes in place instead. It is pure Swift over a raw buffer: no libpcp call,
// no syscall, so tests feed it what EventArrayEncoder writes and hand-built
// arrays, malformed ones included.
//
// It lives next to the encoder so that both read the one layout, and it is
// inlinable so that pmpipe (another module) gets a copy specialised for its
// handler, with the per-record call inlined into the loop.

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

/// One parameter of a record. `value` points into the decoded array and is
/// valid only inside the decoding callback.
public struct EventParameter {
    public var pmid: UInt32
    public var type: UInt32
    public var value: UnsafeRawBufferPointer

    @inlinable
    public init(pmid: UInt32, type: UInt32, value: UnsafeRawBufferPointer) {
        self.pmid = pmid
        self.type = type
        self.value = value
    }

    /// The value read as a 32-bit integer (PM_TYPE_32 / PM_TYPE_U32), if it
    /// has at least four bytes.
    @inlinable
    public var int32Value: Int32? {
        value.count >= 4 ? value.loadUnaligned(fromByteOffset: 0, as: Int32.self) : nil
    }
}

/// One record of the array: a view valid only inside the decoding callback.
public struct EventRecord {
    public var seconds: Int32
    public var microseconds: Int32
    /// `EventRecordLayout`'s flag bits.
    public var flags: UInt32
    /// Records the agent dropped at this point (a MISSED record), else 0.
    public var missed: Int
    /// The number of parameters (0 for a MISSED record).
    public var parameterCount: Int

    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline let parametersOffset: Int
    @usableFromInline let layout: TypeLengthLayout

    @inlinable
    init(
        seconds: Int32, microseconds: Int32, flags: UInt32, missed: Int, parameterCount: Int,
        base: UnsafeRawBufferPointer, parametersOffset: Int, layout: TypeLengthLayout
    ) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.flags = flags
        self.missed = missed
        self.parameterCount = parameterCount
        self.base = base
        self.parametersOffset = parametersOffset
        self.layout = layout
    }

    /// The first parameter; only for a record with `parameterCount > 0`.
    /// Bounds were checked when the record was decoded.
    @inlinable @inline(__always)
    public var firstParameter: EventParameter {
        precondition(parameterCount > 0)
        return parameter(at: parametersOffset)
    }

    @inlinable @inline(__always)
    func parameter(at offset: Int) -> EventParameter {
        let pmid = base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        let word = base.loadUnaligned(fromByteOffset: offset + EventRecordLayout.parameterWordOffset, as: UInt32.self)
        let end = offset + EventRecordLayout.parameterWordOffset + layout.length(of: word)
        let value = UnsafeRawBufferPointer(rebasing: base[(offset + EventRecordLayout.parameterHeaderSize)..<end])
        return EventParameter(pmid: pmid, type: layout.type(of: word), value: value)
    }

    /// Calls `body` for each parameter in order. Bounds were checked when the
    /// record was decoded.
    @inlinable @inline(__always)
    public func forEachParameter(_ body: (EventParameter) throws -> Void) rethrows {
        var offset = parametersOffset
        for _ in 0..<parameterCount {
            let parameter = parameter(at: offset)
            try body(parameter)
            offset += EventRecordLayout.parameterSize(valueBytes: parameter.value.count)
        }
    }
}

/// Receives the records of an array, in order.
///
/// A protocol rather than a closure: the decoder is then specialised for its
/// handler (pmpipe's RecordPrinter) and the per-record call inlined, and a
/// noncopyable handler is passed `inout`, so its state needs no runtime
/// exclusivity checks.
public protocol EventRecordHandler: ~Copyable {
    mutating func handle(_ record: EventRecord) throws
}

/// Reads a packed pmEventArray in place.
public enum EventArrayDecoder {
    /// The first, checking pass: takes every record and does nothing.
    @usableFromInline
    struct Checker: EventRecordHandler {
        @inlinable init() {}

        @inlinable @inline(__always)
        mutating func handle(_ record: EventRecord) {}
    }

    /// Checks the whole array, then hands each record to `handler` in order.
    /// A malformed array throws `EventArrayError` before any record is
    /// delivered, so a caller never prints half of a bad array. Returns the
    /// number of records.
    @inlinable
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

    @inlinable
    @discardableResult
    static func walk<Handler: EventRecordHandler & ~Copyable>(
        _ array: UnsafeRawBufferPointer,
        layout: TypeLengthLayout,
        into handler: inout Handler
    ) throws -> Int {
        typealias Layout = EventRecordLayout
        guard array.count >= Layout.arrayHeaderSize else { throw EventArrayError.tooShort(array.count) }
        let header = array.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let type = layout.type(of: header)
        guard type == Layout.eventType else { throw EventArrayError.notAnEventArray(type: type) }
        let declared = layout.length(of: header)
        guard declared >= Layout.arrayHeaderSize, declared <= array.count else {
            throw EventArrayError.badLength(declared: declared, available: array.count)
        }
        let end = declared
        let nrecords = array.loadUnaligned(fromByteOffset: Layout.recordCountOffset, as: Int32.self)
        guard nrecords >= 0 else { throw EventArrayError.badRecordCount(nrecords) }

        var offset = Layout.arrayHeaderSize
        for r in 0..<Int(nrecords) {
            guard end - offset >= Layout.recordHeaderSize else { throw EventArrayError.recordOverrun(record: r) }
            let seconds = array.loadUnaligned(fromByteOffset: offset + Layout.secondsOffset, as: Int32.self)
            let micros = array.loadUnaligned(fromByteOffset: offset + Layout.microsecondsOffset, as: Int32.self)
            let flags = array.loadUnaligned(fromByteOffset: offset + Layout.flagsOffset, as: UInt32.self)
            let nparams = array.loadUnaligned(fromByteOffset: offset + Layout.parameterCountOffset, as: Int32.self)
            guard nparams >= 0 else { throw EventArrayError.badParameterCount(record: r, count: nparams) }
            offset += Layout.recordHeaderSize

            // Like libpcp: MISSED with any other flag is malformed, and its
            // er_nparams is a count, not parameters.
            if flags & Layout.missedFlag != 0 {
                guard flags == Layout.missedFlag else {
                    throw EventArrayError.badParameterCount(record: r, count: nparams)
                }
                try handler.handle(
                    EventRecord(
                        seconds: seconds, microseconds: micros, flags: flags,
                        missed: Int(nparams), parameterCount: 0,
                        base: array, parametersOffset: offset, layout: layout))
                continue
            }

            let parametersOffset = offset
            for p in 0..<Int(nparams) {
                guard end - offset >= Layout.parameterHeaderSize else {
                    throw EventArrayError.parameterOverrun(record: r, parameter: p)
                }
                let word = array.loadUnaligned(fromByteOffset: offset + Layout.parameterWordOffset, as: UInt32.self)
                let length = layout.length(of: word)
                guard length >= Layout.parameterLengthOverhead else {
                    throw EventArrayError.badParameterLength(record: r, parameter: p, length: length)
                }
                let size = Layout.parameterWordOffset + Layout.padded(length)
                guard end - offset >= size else {
                    throw EventArrayError.parameterOverrun(record: r, parameter: p)
                }
                offset += size
            }
            try handler.handle(
                EventRecord(
                    seconds: seconds, microseconds: micros, flags: flags,
                    missed: 0, parameterCount: Int(nparams),
                    base: array, parametersOffset: parametersOffset, layout: layout))
        }
        // Bytes after the last record are tolerated, as libpcp's own checker
        // (__pmCheckEventRecords) does.
        return Int(nrecords)
    }
}
