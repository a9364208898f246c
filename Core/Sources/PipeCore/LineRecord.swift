// One output line stored as the event record a client will receive, the
// form both the per-client queue (RecordQueue) and the shared runs' buffer
// (SharedRunOutput) keep lines in, so a fetch copies stored records as one
// block: the record header, then the line parameter, then for a piece of a
// longer line `continued`, or for a stream's last line without a newline
// `noeol` (EventRecordLayout).

/// Writing and reading back stored line records.
enum LineRecord {
    @inline(__always) static var lineOffset: Int { EventRecordLayout.recordHeaderSize }
    @inline(__always) static var endMarkSize: Int { EventRecordLayout.parameterSize(valueBytes: 4) }
    /// The value offset of the line parameter's bytes.
    @inline(__always) static var valueOffset: Int { lineOffset + EventRecordLayout.parameterHeaderSize }

    /// Bytes a stored line of `length` bytes ending with `end` takes.
    @inline(__always)
    static func size(length: Int, end: LineEnd) -> Int {
        lineOffset + EventRecordLayout.parameterSize(valueBytes: length) + (end == .newline ? 0 : endMarkSize)
    }

    /// Writes the record for `line` at `record` (which has `size(...)`
    /// bytes of room). `hasNUL`: the line travels as bytes (rawline), since
    /// a client reads a string only up to its first NUL.
    @inline(__always)
    static func store(
        _ line: UnsafeRawBufferPointer, stream: StreamKind, end: LineEnd, time: Timestamp,
        hasNUL: Bool, format: EventFormat, at record: UnsafeMutableRawPointer
    ) {
        let ids = format.parameters
        let pmid: UInt32
        switch (stream, hasNUL) {
        case (.stdout, false): pmid = ids.line
        case (.stderr, false): pmid = ids.errline
        case (.stdout, true): pmid = ids.rawline
        case (.stderr, true): pmid = ids.rawerrline
        }
        let marked = end != .newline
        EventArrayEncoder.storeRecordHeader(
            seconds: Int32(truncatingIfNeeded: time.seconds), microseconds: time.microseconds,
            flags: EventRecordLayout.pointFlag, parameters: marked ? 2 : 1, at: record)
        let lineSize = EventArrayEncoder.storeParameter(
            line, pmid: pmid, type: hasNUL ? .aggregate : .string,
            layout: format.layout, at: record + lineOffset)
        if marked {
            // Value 1, PM_TYPE_U32, as the metric table declares both.
            _ = EventArrayEncoder.storeInteger(
                1, pmid: end == .continued ? ids.continued : ids.noeol, type: .uint32,
                layout: format.layout, at: record + lineOffset + lineSize)
        }
    }

    /// What a stored record says: when the line was read, its length, the
    /// record's size, and whether it ends with a newline (no end mark).
    @inline(__always)
    static func parse(_ record: UnsafeRawPointer, layout: TypeLengthLayout)
        -> (time: Timestamp, length: Int, size: Int, endsLine: Bool)
    {
        let seconds = record.load(fromByteOffset: EventRecordLayout.secondsOffset, as: Int32.self)
        let micros = record.load(fromByteOffset: EventRecordLayout.microsecondsOffset, as: Int32.self)
        let marked = record.load(fromByteOffset: EventRecordLayout.parameterCountOffset, as: Int32.self) == 2
        let word = record.load(fromByteOffset: lineOffset + EventRecordLayout.parameterWordOffset, as: UInt32.self)
        let length = layout.length(of: word) - EventRecordLayout.parameterLengthOverhead
        let size = lineOffset + EventRecordLayout.parameterSize(valueBytes: length) + (marked ? endMarkSize : 0)
        return (Timestamp(seconds: Int64(seconds), microseconds: micros), length, size, !marked)
    }
}

/// Memory for stored records. A class only so the memory is freed with the
/// last owner; RecordQueue copies before writing into a shared one.
final class ArenaStorage: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    /// The capacity of the arena that replaces one of `current` bytes when
    /// `live` bytes of records must move into it with room for `size` more.
    ///
    /// It doubles (from `minimum`) to twice what is needed, but no further
    /// than about 1.25 times `bound` (the owner's capacity, counted as
    /// `memoryUsed` counts): a full queue or buffer does not cost twice its
    /// capacity. Whatever the bound, the result leaves half of `live + size`
    /// free, so growth stays geometric and the owner's compaction (it moves
    /// the records to the front when they fill at most three quarters of
    /// the arena) has room to work: records are stored bigger than
    /// `memoryUsed` counts them, and a pipe read can land after the owner
    /// is full, so `live` may exceed `bound`. Without that room every
    /// further line would copy the whole arena.
    static func grownCapacity(current: Int, minimum: Int, live: Int, adding size: Int, bound: Int) -> Int {
        let needed = live + size
        var grown = max(minimum, current)
        while grown < 2 * needed { grown *= 2 }
        return min(grown, max(bound + bound / 4 + size, needed + needed / 2))
    }
}
