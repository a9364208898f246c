// Writing records into a packed pmEventArray (EventRecordLayout), and the
// stores that RecordQueue shares to keep its lines as ready-made records.

/// PCP value types (PM_TYPE_* in pmapi.h) that event parameters of this
/// agent use.
public enum EventValueType: UInt32, Sendable {
    case int32 = 0
    case uint32 = 1
    case string = 6
    case aggregate = 7
}

/// The writing half of `EventArrayWriter`: the owner of the array's buffer,
/// so that appending a record is a few stores and a copy.
///
/// Noncopyable: it owns malloc'd memory and frees it in `deinit`. A copy
/// would share the buffer, and the first of the two to grow it would free
/// the memory the other still writes into.
public struct EventArrayEncoder: ~Copyable {
    /// Bytes of array overhead per record holding one parameter, plus the
    /// largest padding: what a caller adds to a value's length to bound the
    /// array's size.
    public static var perRecordOverhead: Int {
        EventRecordLayout.recordHeaderSize + EventRecordLayout.parameterHeaderSize + 3
    }

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
        byteCount = EventRecordLayout.arrayHeaderSize
    }

    deinit { buffer.deallocate() }

    mutating func reset() {
        byteCount = EventRecordLayout.arrayHeaderSize
        recordCount = 0
        openRecord = -1
    }

    /// Starts a record; parameters added next belong to it.
    @inline(__always)
    public mutating func beginRecord(seconds: Int32, microseconds: Int32, flags: UInt32) {
        reserve(EventRecordLayout.recordHeaderSize)
        Self.storeRecordHeader(
            seconds: seconds, microseconds: microseconds, flags: flags, parameters: 0,
            at: buffer + byteCount)
        openRecord = byteCount
        byteCount += EventRecordLayout.recordHeaderSize
        recordCount += 1
    }

    /// A record saying `count` records were dropped at this point.
    public mutating func addMissedRecord(seconds: Int32, microseconds: Int32, count: Int32) {
        beginRecord(seconds: seconds, microseconds: microseconds, flags: EventRecordLayout.missedFlag)
        (buffer + openRecord + EventRecordLayout.parameterCountOffset).storeBytes(of: count, as: Int32.self)
        openRecord = -1
    }

    /// A string or aggregate parameter holding exactly `bytes`.
    @inline(__always)
    public mutating func addBytes(_ bytes: UnsafeRawBufferPointer, pmid: UInt32, type: EventValueType) {
        precondition(openRecord >= 0, "a parameter needs a record")
        reserve(EventRecordLayout.parameterSize(valueBytes: bytes.count))
        byteCount += Self.storeParameter(bytes, pmid: pmid, type: type, layout: layout, at: buffer + byteCount)
        countParameter()
    }

    /// A PM_TYPE_32 or PM_TYPE_U32 parameter.
    public mutating func addInteger(_ value: UInt32, pmid: UInt32, type: EventValueType) {
        precondition(openRecord >= 0, "a parameter needs a record")
        reserve(EventRecordLayout.parameterSize(valueBytes: 4))
        byteCount += Self.storeInteger(value, pmid: pmid, type: type, layout: layout, at: buffer + byteCount)
        countParameter()
    }

    /// A string parameter from Swift text (its UTF-8 bytes).
    public mutating func addString(_ text: String, pmid: UInt32) {
        var text = text
        text.withUTF8 { addBytes(UnsafeRawBufferPointer($0), pmid: pmid, type: .string) }
    }

    /// Appends `records` whole records already encoded in this layout (by
    /// RecordQueue), the last of them starting at `lastRecordOffset` within
    /// `bytes`: parameters added next belong to it. Returns the offset of the
    /// first one in the array (for `setFlags`).
    @discardableResult
    public mutating func appendEncodedRecords(
        _ bytes: UnsafeRawBufferPointer, records: Int,
        lastRecordOffset: Int
    ) -> Int {
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
        checkRecord(at: offset)
        (buffer + offset + EventRecordLayout.flagsOffset).storeBytes(of: flags, as: UInt32.self)
    }

    /// The flags of the record at `offset`.
    public func flags(ofRecordAt offset: Int) -> UInt32 {
        checkRecord(at: offset)
        return (buffer + offset + EventRecordLayout.flagsOffset).load(as: UInt32.self)
    }

    /// The record parameters are being added to (-1 if none).
    public var lastRecordOffset: Int { openRecord }

    mutating func finish() -> UnsafeRawBufferPointer {
        precondition(byteCount <= TypeLengthLayout.maxLength, "event array of \(byteCount) bytes exceeds 16 MiB")
        buffer.storeBytes(of: layout.word(type: EventRecordLayout.eventType, length: byteCount), as: UInt32.self)
        (buffer + EventRecordLayout.recordCountOffset).storeBytes(of: recordCount, as: Int32.self)
        openRecord = -1
        return UnsafeRawBufferPointer(start: buffer, count: byteCount)
    }

    private func checkRecord(at offset: Int) {
        precondition(
            offset >= EventRecordLayout.arrayHeaderSize
                && offset + EventRecordLayout.recordHeaderSize <= byteCount, "no record there")
    }

    @inline(__always)
    private func countParameter() {
        let field = buffer + openRecord + EventRecordLayout.parameterCountOffset
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

// MARK: - Stores shared with RecordQueue

extension EventArrayEncoder {
    /// Writes a record header with `parameters` parameters at `at`.
    @inline(__always)
    static func storeRecordHeader(
        seconds: Int32, microseconds: Int32, flags: UInt32, parameters: Int32,
        at: UnsafeMutableRawPointer
    ) {
        at.storeBytes(of: seconds, toByteOffset: EventRecordLayout.secondsOffset, as: Int32.self)
        at.storeBytes(of: microseconds, toByteOffset: EventRecordLayout.microsecondsOffset, as: Int32.self)
        at.storeBytes(of: flags, toByteOffset: EventRecordLayout.flagsOffset, as: UInt32.self)
        at.storeBytes(of: parameters, toByteOffset: EventRecordLayout.parameterCountOffset, as: Int32.self)
    }

    /// Writes a string or aggregate parameter at `at`, padding zeroed;
    /// returns its size.
    @inline(__always)
    static func storeParameter(
        _ bytes: UnsafeRawBufferPointer, pmid: UInt32, type: EventValueType,
        layout: TypeLengthLayout, at: UnsafeMutableRawPointer
    ) -> Int {
        let length = bytes.count
        let padded = EventRecordLayout.padded(length)
        let value = at + EventRecordLayout.parameterHeaderSize
        at.storeBytes(of: pmid, as: UInt32.self)
        at.storeBytes(
            of: layout.word(type: type.rawValue, length: EventRecordLayout.parameterLengthOverhead + length),
            toByteOffset: EventRecordLayout.parameterWordOffset, as: UInt32.self)
        if padded > 0 {
            // Zero the last word first, then copy over it: the padding ends up 0.
            (value + padded - 4).storeBytes(of: UInt32(0), as: UInt32.self)
            if let source = bytes.baseAddress {
                copy(from: source, to: value, count: length)
            }
        }
        return EventRecordLayout.parameterHeaderSize + padded
    }

    /// Writes a PM_TYPE_32 or PM_TYPE_U32 parameter at `at`; returns its size.
    @inline(__always)
    static func storeInteger(
        _ value: UInt32, pmid: UInt32, type: EventValueType,
        layout: TypeLengthLayout, at: UnsafeMutableRawPointer
    ) -> Int {
        precondition(type == .int32 || type == .uint32, "not a 32-bit integer type")
        at.storeBytes(of: pmid, as: UInt32.self)
        at.storeBytes(
            of: layout.word(type: type.rawValue, length: EventRecordLayout.parameterLengthOverhead + 4),
            toByteOffset: EventRecordLayout.parameterWordOffset, as: UInt32.self)
        at.storeBytes(of: value, toByteOffset: EventRecordLayout.parameterHeaderSize, as: UInt32.self)
        return EventRecordLayout.parameterSize(valueBytes: 4)
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
            destination.storeBytes(
                of: source.load(fromByteOffset: half, as: UInt8.self), toByteOffset: half, as: UInt8.self)
            destination.storeBytes(
                of: source.load(fromByteOffset: count - 1, as: UInt8.self),
                toByteOffset: count - 1, as: UInt8.self)
        case 0:
            break
        default:
            destination.copyMemory(from: source, byteCount: count)
        }
    }
}
