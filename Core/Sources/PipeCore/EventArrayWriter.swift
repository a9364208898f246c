// The agent's side of the event-record wire format: a packed pmEventArray
// (the value of a PM_TYPE_EVENT metric) built straight into one buffer.
//
// libpcp_pmda's pmdaEventAddRecord/pmdaEventAddParam build the same bytes, but
// through a call, a lookup of the array by index, a strlen and a capacity
// check per record and per parameter. At millions of lines a second that was
// a fifth of the agent's time, on the path every fetch waits for. Here the
// caller knows each line's length, so a record is a few stores and a memcpy.
//
// Layout (host byte order; libpcp converts for the wire; offsets are pinned by
// _Static_asserts in cpcp.h):
//   0  type/length word (PM_TYPE_EVENT, whole array's bytes)   4  record count
//   8  records: tv_sec (int32) tv_usec (int32) flags (uint32) nparams (int32),
//      then each parameter: pmid (uint32), type/length word (length = 4 +
//      value bytes), value padded with zero bytes to a multiple of 4.
//   A MISSED record has flags == PM_EVENT_FLAG_MISSED and nparams = the number
//   of records dropped, and no parameters.
// Like libpcp's, a string value carries no terminating NUL unless padding
// supplies one: its length is in the word. Unlike libpcp's, padding is zeroed,
// so no stale heap bytes travel to clients.

/// Where the compiler puts the 8-bit type and 24-bit length of the
/// type/length word (pmValueBlock, pmEventArray and pmEventParameter share
/// it). The order of C bitfields is the compiler's business
/// (HAVE_BITFIELDS_LTOR), so callers measure it with a C probe rather than
/// assume it.
public struct TypeLengthLayout: Sendable, Equatable {
    public var typeShift: UInt32
    public var lengthShift: UInt32

    public init(typeShift: UInt32, lengthShift: UInt32) {
        self.typeShift = typeShift
        self.lengthShift = lengthShift
    }

    /// `probe(type, length)` must return the word as C lays it out.
    public init(probe: (UInt32, UInt32) -> UInt32) {
        typeShift = UInt32(probe(0xFF, 0).trailingZeroBitCount)
        lengthShift = UInt32(probe(0, 0xFF_FFFF).trailingZeroBitCount)
    }

    /// Right-to-left bitfields (gcc/clang on x86_64 and aarch64 Linux).
    public static let rightToLeft = TypeLengthLayout(typeShift: 24, lengthShift: 0)

    /// The largest length the 24-bit field holds.
    public static let maxLength = 0xFF_FFFF

    @inline(__always)
    public func type(of word: UInt32) -> UInt32 { (word >> typeShift) & 0xFF }

    @inline(__always)
    public func length(of word: UInt32) -> Int { Int((word >> lengthShift) & 0xFF_FFFF) }

    @inline(__always)
    public func word(type: UInt32, length: Int) -> UInt32 {
        ((type & 0xFF) << typeShift) | ((UInt32(truncatingIfNeeded: length) & 0xFF_FFFF) << lengthShift)
    }
}

/// PCP value types (PM_TYPE_* in pmapi.h) that event parameters of this
/// agent use.
public enum EventValueType: UInt32, Sendable {
    case int32 = 0
    case uint32 = 1
    case string = 6
    case aggregate = 7
}

/// Builds one packed pmEventArray at a time in a buffer it reuses: `reset`,
/// then records and their parameters inside `encode`, then `finish`.
///
/// The writing itself is done by `EventArrayEncoder`, a struct the closure of
/// `encode` gets inout: a class's stored properties would be checked for
/// exclusive access at run time on every store, which cost more than the
/// encoding. Not thread-safe; one writer per array in flight (the bytes must
/// stay put until libpcp has sent the PDU that points at them).
public final class EventArrayWriter {
    private var encoder: EventArrayEncoder

    public init(layout: TypeLengthLayout, initialCapacity: Int = 4096) {
        encoder = EventArrayEncoder(layout: layout, capacity: initialCapacity)
    }

    deinit { encoder.deallocate() }

    /// Starts a new, empty array, keeping the buffer.
    public func reset() { encoder.reset() }

    /// Adds records: `body` gets the encoder inout.
    public func encode<Result>(_ body: (inout EventArrayEncoder) throws -> Result) rethrows -> Result {
        try body(&encoder)
    }

    public var recordCount: Int32 { encoder.recordCount }
    public var byteCount: Int { encoder.byteCount }
    public var capacity: Int { encoder.capacity }

    /// Writes the header and returns the whole array, valid until the next
    /// change to this writer. The array must fit the 24-bit length field:
    /// callers bound batches (see `EventArrayEncoder.perRecordOverhead`).
    public func finish() -> UnsafeRawBufferPointer { encoder.finish() }
}

/// The writing half of `EventArrayWriter`: a plain struct over the writer's
/// buffer, so that appending a record is a few stores and a copy.
public struct EventArrayEncoder {
    /// PM_TYPE_EVENT.
    public static let eventType: UInt32 = 9
    /// PM_EVENT_FLAG_MISSED.
    public static let missedFlag: UInt32 = 1 << 31
    /// Bytes of the array header, of a record header and of a parameter
    /// header (pmid and type/length word).
    public static let headerSize = 8
    public static let recordHeaderSize = 16
    public static let parameterHeaderSize = 8

    /// PM_PDU_SIZE_BYTES: a value's bytes rounded up to a multiple of 4.
    @inline(__always)
    public static func padded(_ n: Int) -> Int { (n + 3) & ~3 }

    /// Bytes of array overhead per record holding one parameter, plus the
    /// largest padding: what a caller adds to a value's length to bound the
    /// array's size.
    public static let perRecordOverhead = recordHeaderSize + parameterHeaderSize + 3

    public let layout: TypeLengthLayout
    private var buffer: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// Bytes written so far, the header included.
    public private(set) var byteCount: Int
    public private(set) var recordCount: Int32 = 0
    /// Offset of the record that parameters are added to, or -1.
    private var openRecord = -1

    init(layout: TypeLengthLayout, capacity: Int) {
        self.layout = layout
        self.capacity = max(capacity, 64)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
        byteCount = Self.headerSize
    }

    func deallocate() { buffer.deallocate() }

    mutating func reset() {
        byteCount = Self.headerSize
        recordCount = 0
        openRecord = -1
    }

    /// Starts a record; parameters added next belong to it.
    @inline(__always)
    public mutating func beginRecord(seconds: Int32, microseconds: Int32, flags: UInt32) {
        reserve(Self.recordHeaderSize)
        Self.storeRecordHeader(seconds: seconds, microseconds: microseconds, flags: flags, parameters: 0,
                               at: buffer + byteCount)
        openRecord = byteCount
        byteCount += Self.recordHeaderSize
        recordCount += 1
    }

    /// A record saying `count` records were dropped at this point.
    public mutating func addMissedRecord(seconds: Int32, microseconds: Int32, count: Int32) {
        beginRecord(seconds: seconds, microseconds: microseconds, flags: Self.missedFlag)
        (buffer + openRecord + 12).storeBytes(of: count, as: Int32.self)
        openRecord = -1
    }

    /// A string or aggregate parameter holding exactly `bytes`.
    @inline(__always)
    public mutating func addBytes(_ bytes: UnsafeRawBufferPointer, pmid: UInt32, type: EventValueType) {
        precondition(openRecord >= 0, "a parameter needs a record")
        reserve(Self.parameterSize(valueBytes: bytes.count))
        byteCount += Self.storeParameter(bytes, pmid: pmid, type: type, layout: layout, at: buffer + byteCount)
        countParameter()
    }

    /// A PM_TYPE_32 or PM_TYPE_U32 parameter.
    public mutating func addInteger(_ value: UInt32, pmid: UInt32, type: EventValueType) {
        precondition(openRecord >= 0, "a parameter needs a record")
        reserve(Self.parameterHeaderSize + 4)
        byteCount += Self.storeInteger(value, pmid: pmid, type: type, layout: layout, at: buffer + byteCount)
        countParameter()
    }

    // MARK: - The layout of one parameter (shared with RecordQueue)

    /// Bytes a parameter with `valueBytes` of value takes.
    @inline(__always)
    static func parameterSize(valueBytes: Int) -> Int { parameterHeaderSize + padded(valueBytes) }

    /// Writes a string or aggregate parameter at `at`, padding zeroed;
    /// returns its size.
    @inline(__always)
    static func storeParameter(_ bytes: UnsafeRawBufferPointer, pmid: UInt32, type: EventValueType,
                               layout: TypeLengthLayout, at: UnsafeMutableRawPointer) -> Int {
        let length = bytes.count
        let padded = Self.padded(length)
        at.storeBytes(of: pmid, as: UInt32.self)
        (at + 4).storeBytes(of: layout.word(type: type.rawValue, length: 4 + length), as: UInt32.self)
        if padded > 0 {
            // Zero the last word first, then copy over it: the padding ends up 0.
            (at + 4 + padded).storeBytes(of: UInt32(0), as: UInt32.self)
            if let source = bytes.baseAddress {
                copy(from: source, to: at + 8, count: length)
            }
        }
        return parameterHeaderSize + padded
    }

    /// memcpy, with lines of up to 16 bytes (most output lines of a fast
    /// command) copied inline by two overlapping loads and stores instead of
    /// a call. Never touches bytes outside either range.
    @inline(__always)
    static func copy(from source: UnsafeRawPointer, to destination: UnsafeMutableRawPointer, count: Int) {
        switch count {
        case 8...16:
            let first = source.loadUnaligned(as: UInt64.self)
            let last = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            destination.storeBytes(of: first, as: UInt64.self)
            destination.storeBytes(of: last, toByteOffset: count - 8, as: UInt64.self)
        case 4..<8:
            let first = source.loadUnaligned(as: UInt32.self)
            let last = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            destination.storeBytes(of: first, as: UInt32.self)
            destination.storeBytes(of: last, toByteOffset: count - 4, as: UInt32.self)
        case 1..<4:
            let half = count >> 1
            destination.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
            destination.storeBytes(of: source.load(fromByteOffset: half, as: UInt8.self), toByteOffset: half, as: UInt8.self)
            destination.storeBytes(of: source.load(fromByteOffset: count - 1, as: UInt8.self),
                                   toByteOffset: count - 1, as: UInt8.self)
        case 0:
            break
        default:
            destination.copyMemory(from: source, byteCount: count)
        }
    }

    /// Writes a PM_TYPE_32 or PM_TYPE_U32 parameter at `at`; returns its size.
    @inline(__always)
    static func storeInteger(_ value: UInt32, pmid: UInt32, type: EventValueType,
                             layout: TypeLengthLayout, at: UnsafeMutableRawPointer) -> Int {
        precondition(type == .int32 || type == .uint32, "not a 32-bit integer type")
        at.storeBytes(of: pmid, as: UInt32.self)
        (at + 4).storeBytes(of: layout.word(type: type.rawValue, length: 8), as: UInt32.self)
        (at + 8).storeBytes(of: value, as: UInt32.self)
        return parameterHeaderSize + 4
    }

    /// Writes a record header with `parameters` parameters at `at`.
    @inline(__always)
    static func storeRecordHeader(seconds: Int32, microseconds: Int32, flags: UInt32, parameters: Int32,
                                  at: UnsafeMutableRawPointer) {
        at.storeBytes(of: seconds, as: Int32.self)
        (at + 4).storeBytes(of: microseconds, as: Int32.self)
        (at + 8).storeBytes(of: flags, as: UInt32.self)
        (at + 12).storeBytes(of: parameters, as: Int32.self)
    }

    /// Appends `records` whole records already encoded in this layout (by
    /// RecordQueue), the last of them starting at `lastRecordOffset` within
    /// `bytes`: parameters added next belong to it. Returns the offset of the
    /// first one in the array (for `setFlags`).
    @discardableResult
    public mutating func appendEncodedRecords(_ bytes: UnsafeRawBufferPointer, records: Int,
                                              lastRecordOffset: Int) -> Int {
        guard records > 0, let source = bytes.baseAddress else { return byteCount }
        reserve(bytes.count)
        let first = byteCount
        (buffer + first).copyMemory(from: source, byteCount: bytes.count)
        openRecord = first + lastRecordOffset
        byteCount += bytes.count
        recordCount += Int32(records)
        return first
    }

    /// Overwrites the flags of the record at `offset` (from
    /// `appendEncodedRecords`, or `lastRecordOffset`).
    public mutating func setFlags(_ flags: UInt32, ofRecordAt offset: Int) {
        precondition(offset >= Self.headerSize && offset + Self.recordHeaderSize <= byteCount, "no record there")
        (buffer + offset + 8).storeBytes(of: flags, as: UInt32.self)
    }

    /// The flags of the record at `offset`.
    public func flags(ofRecordAt offset: Int) -> UInt32 {
        precondition(offset >= Self.headerSize && offset + Self.recordHeaderSize <= byteCount, "no record there")
        return (buffer + offset + 8).load(as: UInt32.self)
    }

    /// The record parameters are being added to (-1 if none).
    public var lastRecordOffset: Int { openRecord }

    /// A string parameter from Swift text (its UTF-8 bytes).
    public mutating func addString(_ text: String, pmid: UInt32) {
        var text = text
        text.withUTF8 { addBytes(UnsafeRawBufferPointer($0), pmid: pmid, type: .string) }
    }

    mutating func finish() -> UnsafeRawBufferPointer {
        precondition(byteCount <= TypeLengthLayout.maxLength, "event array of \(byteCount) bytes exceeds 16 MiB")
        buffer.storeBytes(of: layout.word(type: Self.eventType, length: byteCount), as: UInt32.self)
        (buffer + 4).storeBytes(of: recordCount, as: Int32.self)
        openRecord = -1
        return UnsafeRawBufferPointer(start: buffer, count: byteCount)
    }

    @inline(__always)
    private func countParameter() {
        let field = buffer + openRecord + 12
        field.storeBytes(of: field.load(as: Int32.self) + 1, as: Int32.self)
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if byteCount + extra > capacity { grow(to: byteCount + extra) }
    }

    private mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBuffer = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newBuffer.copyMemory(from: buffer, byteCount: byteCount)
        buffer.deallocate()
        buffer = newBuffer
        capacity = newCapacity
    }
}
