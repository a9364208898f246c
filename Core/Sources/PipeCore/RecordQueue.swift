// The per-client backlog of output lines. A fast command can produce
// millions of lines a second, so each line is stored once, already as the
// event record a client will receive (EventRecordLayout),
// in one contiguous arena: a fetch then copies a run of records with one
// memcpy instead of re-encoding line by line, and in steady state neither
// an append nor a batch allocates.

/// How records are encoded: the PMIDs of their parameters and the bitfield
/// layout of libpcp's type/length words. The agent supplies the real ones.
public struct EventFormat: Sendable, Equatable {
    public var parameters: EventParameterIDs
    public var layout: TypeLengthLayout

    public init(parameters: EventParameterIDs, layout: TypeLengthLayout) {
        self.parameters = parameters
        self.layout = layout
    }

    /// PMIDs 1...8 (`noeol`, the newest, is 8), right-to-left bitfields:
    /// for tests and tools that look only at the lines.
    public static let placeholder = EventFormat(
        parameters: EventParameterIDs(
            line: 1, errline: 2, rawline: 3, rawerrline: 4,
            continued: 5, noeol: 8, exitstatus: 6, endreason: 7),
        layout: .rightToLeft)
}

/// A bounded FIFO of output lines for one client.
///
/// Its size is measured in `memoryUsed`: payload bytes plus
/// `RecordQueue.recordOverhead` per record, so a flood of empty lines is
/// bounded too. What happens at the bound is the `policy`:
/// - `.block`: every line is stored; the caller stops reading the command's
///   pipes while `isFull`, so the queue exceeds `capacity` by at most what was
///   already read.
/// - `.drop`: the oldest lines make room for the new one and are counted, and
///   the next batch starts with a MISSED record saying how many, which is
///   exactly where the gap is (drops always remove the head).
public struct RecordQueue: Sendable {
    /// The fixed cost charged per record in `memoryUsed`, standing for its
    /// header.
    public static let recordOverhead = 16

    public let capacity: Int
    public let policy: OverflowPolicy
    public let format: EventFormat

    /// Lines dropped under `.drop` and not yet reported in a batch.
    public private(set) var pendingMissed: Int = 0
    public private(set) var missedTime = Timestamp.zero

    /// Lifetime totals (reported as metrics): lines queued, their payload
    /// bytes, lines dropped.
    public private(set) var totalRecords: UInt64 = 0
    public private(set) var totalBytes: UInt64 = 0
    public private(set) var totalDropped: UInt64 = 0

    public private(set) var memoryUsed: Int = 0
    /// Records queued (not counting a pending `.missed` marker).
    public private(set) var count: Int = 0

    // MARK: - Storage

    /// Encoded records live in `storage` from byte `head` to byte `tail`.
    private var storage: ArenaStorage?
    private var head = 0
    private var tail = 0
    /// Where the newest record starts (valid while `count > 0`).
    private var newest = 0

    /// Arenas bigger than this are given back when the queue empties, so an
    /// idle client does not keep its burst-sized arena.
    private static let retainedCapacity = 64 * 1024
    private static let initialCapacity = 4096

    public init(capacity: Int, policy: OverflowPolicy, format: EventFormat = .placeholder) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
        self.policy = policy
        self.format = format
    }

    /// True when `memoryUsed` has reached `capacity`.
    public var isFull: Bool { memoryUsed >= capacity }

    // MARK: - Appending

    /// Appends one line (or line piece) that ends with `end` (as
    /// LineSplitter says). Under `.drop`, first drops the oldest records
    /// until the new one fits, counting them in `pendingMissed` and
    /// `totalDropped`. Under `.block` it always stores.
    public mutating func append(_ line: UnsafeRawBufferPointer, stream: StreamKind, end: LineEnd, time: Timestamp) {
        append(line, stream: stream, end: end, time: time, mayContainNUL: true)
    }

    /// `append` for a caller that may already know the line has no 0 byte
    /// (`mayContainNUL == false`: RunOutput checks a whole read at once).
    @inline(__always)
    mutating func append(
        _ line: UnsafeRawBufferPointer, stream: StreamKind, end: LineEnd, time: Timestamp,
        mayContainNUL: Bool
    ) {
        let length = line.count
        precondition(length <= TypeLengthLayout.maxLength - 4, "a line piece longer than 16 MiB")
        let cost = length + Self.recordOverhead
        if policy == .drop {
            while count > 0 && memoryUsed + cost > capacity {
                dropOldest()
            }
        }
        let size = LineRecord.size(length: length, end: end)
        let base = reserve(size)
        LineRecord.store(
            line, stream: stream, end: end, time: time,
            hasNUL: mayContainNUL && ByteSearch.containsZero(line), format: format, at: base + tail)
        newest = tail
        tail += size
        count += 1
        memoryUsed += cost
        totalRecords &+= 1
        totalBytes &+= UInt64(length)
    }

    /// Room for `size` more bytes at `tail`; returns the arena's base. Makes
    /// the arena this queue's own first (value semantics: a copy of the
    /// queue never sees this one's appends).
    @inline(__always)
    private mutating func reserve(_ size: Int) -> UnsafeMutableRawPointer {
        // No `if let` here: a second reference would make the check fail.
        if tail + size <= storage?.capacity ?? 0 && isKnownUniquelyReferenced(&storage) {
            return storage.unsafelyUnwrapped.base
        }
        return relocate(adding: size)
    }

    /// Moves the live records to the front of this arena when that frees
    /// enough room (amortized: only when at least a quarter of it is
    /// consumed), or into a bigger or unshared one.
    private mutating func relocate(adding size: Int) -> UnsafeMutableRawPointer {
        let live = tail - head
        if live + size <= (storage?.capacity ?? 0) * 3 / 4 && isKnownUniquelyReferenced(&storage) {
            let base = storage.unsafelyUnwrapped.base
            base.copyMemory(from: base + head, byteCount: live)  // memmove: the regions may overlap
            newest -= head
            head = 0
            tail = live
            return base
        }
        let newCapacity = ArenaStorage.grownCapacity(
            current: storage?.capacity ?? 0, minimum: Self.initialCapacity,
            live: live, adding: size, bound: capacity)
        let fresh = ArenaStorage(capacity: newCapacity)
        if let existing = storage, live > 0 {
            fresh.base.copyMemory(from: existing.base + head, byteCount: live)
        }
        storage = fresh
        newest -= head
        head = 0
        tail = live
        return fresh.base
    }

    private mutating func dropOldest() {
        let record = storage!.base + head
        let parsed = parse(record)
        pendingMissed += 1
        totalDropped &+= 1
        missedTime = parsed.time
        removeHead(count: 1, bytes: parsed.size, payload: parsed.length)
    }

    // MARK: - Taking a batch

    /// What `encode` added to an array.
    public struct EncodedBatch: Sendable, Equatable {
        /// Records added, the missed marker included.
        public var records = 0
        /// Whether the first of them is a missed marker.
        public var missedMarker = false
        /// Where the first line record starts in the array (nil: no lines
        /// were added). The last one is the array's `lastRecordOffset`.
        public var firstLineRecord: Int?

        public init() {}
    }

    /// Moves the next batch into `array`, in FIFO order: first, if lines
    /// were dropped since the last batch, a MISSED record with their count
    /// (stamped with the time the newest of them was read, so records stay
    /// in time order), then up to `maxRecords` records in all and about
    /// `maxBytes` of line bytes (always at least one line if any), copied
    /// as one block. Every line record is flagged POINT; the caller marks a
    /// run's first and last.
    public mutating func encode(into array: inout EventArrayEncoder, maxRecords: Int, maxBytes: Int) -> EncodedBatch {
        var encoded = EncodedBatch()
        guard maxRecords > 0 else { return encoded }
        if pendingMissed > 0 {
            array.addMissedRecord(
                seconds: Int32(truncatingIfNeeded: missedTime.seconds),
                microseconds: missedTime.microseconds, count: Int32(clamping: pendingMissed))
            pendingMissed = 0
            encoded.records = 1
            encoded.missedMarker = true
        }
        guard count > 0 && encoded.records < maxRecords else { return encoded }
        let batch = chooseBatch(maxRecords: maxRecords - encoded.records, maxBytes: maxBytes)
        encoded.firstLineRecord = array.appendEncodedRecords(
            UnsafeRawBufferPointer(start: storage.unsafelyUnwrapped.base + head, count: batch.bytes),
            records: batch.records, lastRecordOffset: batch.lastRecordOffset)
        encoded.records += batch.records
        removeHead(count: batch.records, bytes: batch.bytes, payload: batch.payload)
        return encoded
    }

    private struct Batch {
        var records = 0
        var bytes = 0
        var payload = 0
        var lastRecordOffset = 0
    }

    /// How many records from the head make the next batch: at least one, at
    /// most `maxRecords`, and no more payload than `maxBytes` unless that is
    /// the first record's.
    private func chooseBatch(maxRecords: Int, maxBytes: Int) -> Batch {
        // A client that keeps up takes everything: no need to walk the records.
        let queuedPayload = memoryUsed - count * Self.recordOverhead
        if count <= maxRecords && queuedPayload <= maxBytes {
            return Batch(records: count, bytes: tail - head, payload: queuedPayload, lastRecordOffset: newest - head)
        }
        var batch = Batch()
        let base = storage!.base
        while batch.records < count && batch.records < maxRecords {
            let parsed = parse(base + head + batch.bytes)
            if batch.records > 0 && batch.payload + parsed.length > maxBytes { break }
            batch.lastRecordOffset = batch.bytes
            batch.records += 1
            batch.bytes += parsed.size
            batch.payload += parsed.length
        }
        return batch
    }

    /// Reads back what `append` stored: when the line was read, its length,
    /// and the record's size.
    @inline(__always)
    private func parse(_ record: UnsafeMutableRawPointer) -> (time: Timestamp, length: Int, size: Int) {
        let parsed = LineRecord.parse(record, layout: format.layout)
        return (parsed.time, parsed.length, parsed.size)
    }

    /// Forgets the first `removed` records (`bytes` long, `payload` bytes of
    /// lines); an empty queue rewinds, and gives a big arena back.
    private mutating func removeHead(count removed: Int, bytes: Int, payload: Int) {
        head += bytes
        count -= removed
        memoryUsed -= payload + removed * Self.recordOverhead
        if count == 0 {
            head = 0
            tail = 0
            if let existing = storage, existing.capacity > Self.retainedCapacity { storage = nil }
        }
    }
}
