// The output of a shared run: one buffer that many readers follow, each
// from its own position (a sequence number), in the manner of pmdalogger's
// per-client cursors. The command is never blocked by a slow reader: the
// oldest lines leave the buffer when it is full, and a reader that had not
// got them yet is told exactly how many it missed, at the gap.

/// What one `encode` gave a reader.
public struct SharedBatch: Sendable, Equatable {
    /// Records added (the missed marker and a standalone end record included).
    public var records = 0
    /// Lines the reader missed (they left the buffer before it got them).
    public var missed: UInt64 = 0
    /// The reader's next position.
    public var next: UInt64 = 0
    /// The run's end record was handed out: the reader has everything.
    public var ended = false

    public init() {}
}

/// A shared run's lines, kept as ready-made event records (LineRecord) in a
/// buffer bounded in bytes, numbered from 0 (the run's first line).
public struct SharedRunOutput {
    /// Bytes of lines (plus a per-record overhead) the buffer keeps.
    public let capacity: Int
    public let format: EventFormat

    private var arena: ArenaStorage?
    /// Absolute byte position of arena byte 0, and of the end of the last
    /// record: records are addressed by absolute positions, so moving them
    /// to the front of the arena changes one number.
    private var arenaStart = 0
    private var end = 0
    /// Absolute positions of the buffered records, oldest first, from
    /// `starts[startsHead]`.
    private var starts: [Int] = []
    private var startsHead = 0

    /// The position of the oldest buffered line.
    public private(set) var oldest: UInt64 = 0
    /// Bytes held, counted as the queue counts them.
    public private(set) var memoryUsed = 0
    public private(set) var totalRecords: UInt64 = 0
    public private(set) var totalBytes: UInt64 = 0
    public private(set) var bytesIngested: UInt64 = 0
    /// Lines that left the buffer before some reader had them (readers'
    /// gaps, counted once each).
    public private(set) var dropped: UInt64 = 0
    private var droppedUpTo: UInt64 = 0

    private var stdoutLines: LineSplitter
    private var stderrLines: LineSplitter
    public private(set) var termination: Termination?
    private var finishTime = Timestamp.zero

    public init(capacity: Int, maxLineLength: Int, format: EventFormat = .placeholder) {
        precondition(capacity > 0, "a shared buffer needs room")
        self.capacity = capacity
        self.format = format
        stdoutLines = LineSplitter(maxLineLength: maxLineLength)
        stderrLines = LineSplitter(maxLineLength: maxLineLength)
    }

    /// One past the newest buffered line: where a reader that is up to date
    /// stands.
    public var next: UInt64 { oldest + UInt64(starts.count - startsHead) }

    public var isFinished: Bool { termination != nil }

    // MARK: - Input side

    /// Bytes read from the command's stdout or stderr at `time`.
    public mutating func ingest(_ bytes: UnsafeRawBufferPointer, from stream: StreamKind, at time: Timestamp) {
        precondition(termination == nil, "output ingested after the run finished")
        bytesIngested &+= UInt64(bytes.count)
        if stream == .stdout {
            var splitter = stdoutLines
            splitter.append(bytes) { line, end in append(line, stream: stream, end: end, time: time) }
            stdoutLines = splitter
        } else {
            var splitter = stderrLines
            splitter.append(bytes) { line, end in append(line, stream: stream, end: end, time: time) }
            stderrLines = splitter
        }
    }

    /// End of one stream: its last line without a newline is kept.
    public mutating func closeStream(_ stream: StreamKind, at time: Timestamp) {
        var splitter = stream == .stdout ? stdoutLines : stderrLines
        splitter.finish { line, end in append(line, stream: stream, end: end, time: time) }
        if stream == .stdout { stdoutLines = splitter } else { stderrLines = splitter }
    }

    /// The run is over: readers that reach the end get the end record.
    public mutating func finish(_ termination: Termination, at time: Timestamp) {
        precondition(self.termination == nil, "a run finished twice")
        closeStream(.stdout, at: time)
        closeStream(.stderr, at: time)
        self.termination = termination
        finishTime = time
        releaseSpareRoom()
    }

    /// Bytes the arena holds, spare room included (for tests).
    var arenaBytes: Int { arena?.capacity ?? 0 }

    /// A finished run takes no more lines, and stays readable for its
    /// retain time: its arena shrinks to the records it holds (records are
    /// stored bigger than `memoryUsed` counts them and the arena grew to
    /// twice what it needed, so a full 4 MiB buffer of short lines can hold
    /// three times that), and the record positions lose their evicted head.
    private mutating func releaseSpareRoom() {
        if startsHead > 0 || starts.capacity > starts.count {
            starts = Array(starts[startsHead...])
            startsHead = 0
        }
        let first = starts.first ?? end
        let live = end - first
        guard let current = arena, current.capacity > live else { return }
        guard live > 0 else {
            arena = nil
            arenaStart = end
            return
        }
        let fresh = ArenaStorage(capacity: live)
        fresh.base.copyMemory(from: current.base + (first - arenaStart), byteCount: live)
        arena = fresh
        arenaStart = first
    }

    private mutating func append(
        _ line: UnsafeRawBufferPointer, stream: StreamKind, end lineEnd: LineEnd,
        time: Timestamp
    ) {
        let cost = line.count + RecordQueue.recordOverhead
        while starts.count > startsHead && memoryUsed + cost > capacity { evictOldest() }
        let size = LineRecord.size(length: line.count, end: lineEnd)
        let base = reserve(size)
        LineRecord.store(
            line, stream: stream, end: lineEnd, time: time, hasNUL: ByteSearch.containsZero(line),
            format: format, at: base + (end - arenaStart))
        starts.append(end)
        end += size
        memoryUsed += cost
        totalRecords &+= 1
        totalBytes &+= UInt64(line.count)
    }

    private mutating func evictOldest() {
        let parsed = LineRecord.parse(pointer(to: starts[startsHead]), layout: format.layout)
        memoryUsed -= parsed.length + RecordQueue.recordOverhead
        startsHead += 1
        oldest += 1
        if startsHead > 4096 && startsHead * 2 > starts.count {
            starts.removeFirst(startsHead)
            startsHead = 0
        }
    }

    private func pointer(to position: Int) -> UnsafeMutableRawPointer {
        arena.unsafelyUnwrapped.base + (position - arenaStart)
    }

    /// Room for `size` bytes at `end`; moves the live records to the front
    /// when a quarter of the arena is behind them, else grows it.
    private mutating func reserve(_ size: Int) -> UnsafeMutableRawPointer {
        let capacityNow = arena?.capacity ?? 0
        if end - arenaStart + size <= capacityNow { return arena.unsafelyUnwrapped.base }
        let first = starts.count > startsHead ? starts[startsHead] : end
        let live = end - first
        if let arena, live + size <= capacityNow * 3 / 4 {
            arena.base.copyMemory(from: arena.base + (first - arenaStart), byteCount: live)
            arenaStart = first
            return arena.base
        }
        let newCapacity = ArenaStorage.grownCapacity(
            current: capacityNow, minimum: 4096,
            live: live, adding: size, bound: capacity)
        let fresh = ArenaStorage(capacity: newCapacity)
        if let arena, live > 0 { fresh.base.copyMemory(from: arena.base + (first - arenaStart), byteCount: live) }
        arena = fresh
        arenaStart = first
        return fresh.base
    }

    // MARK: - Output side

    /// Notes a reader's gap [from, to) in `dropped`, each line once.
    private mutating func noteMissed(from: UInt64, to: UInt64) {
        let start = max(from, droppedUpTo)
        if to > start { dropped += to - start }
        droppedUpTo = max(droppedUpTo, to)
    }

    /// The records from position `cursor` on for one reader, as
    /// `RunOutput.encodeBatch` gives them to a private run's client: a
    /// MISSED record first if the reader fell behind the buffer, then up to
    /// `maxRecords` records and about `maxBytes` of line bytes copied as one
    /// block; the run's first line flagged START; once the run has finished
    /// and the reader reaches its end, END on the last line with
    /// `exitstatus` and `endreason` (or a record of its own).
    ///
    /// `firstRead`: the reader has just arrived (cursor 0). Lines that left
    /// the buffer before it came still get a MISSED record (an archive then
    /// shows where it starts), but are not its loss: `dropped` counts only
    /// the gaps of readers that were following.
    public mutating func encode(
        from cursor: UInt64, into array: inout EventArrayEncoder, maxRecords: Int,
        maxBytes: Int, endReason: String, firstRead: Bool = false
    ) -> SharedBatch {
        var batch = SharedBatch()
        var position = cursor
        guard maxRecords > 0 else {
            batch.next = cursor
            return batch
        }
        if position < oldest {
            batch.missed = oldest - position
            if !firstRead { noteMissed(from: position, to: oldest) }
            // Stamped like the first line after the gap, so records stay in time order.
            let time =
                starts.count > startsHead
                ? LineRecord.parse(pointer(to: starts[startsHead]), layout: format.layout).time : finishTime
            array.addMissedRecord(
                seconds: Int32(truncatingIfNeeded: time.seconds), microseconds: time.microseconds,
                count: Int32(clamping: batch.missed))
            batch.records = 1
            position = oldest
        }
        let available = Int(next - position)
        var records = 0
        var bytes = 0
        var payload = 0
        var lastOffset = 0
        while records < available && batch.records + records < maxRecords {
            let parsed = LineRecord.parse(
                pointer(to: starts[startsHead + Int(position - oldest) + records]),
                layout: format.layout)
            if records > 0 && payload + parsed.length > maxBytes { break }
            lastOffset = bytes
            records += 1
            bytes += parsed.size
            payload += parsed.length
        }
        let ids = format.parameters
        if records > 0 {
            let first = starts[startsHead + Int(position - oldest)]
            let offset = array.appendEncodedRecords(
                UnsafeRawBufferPointer(start: pointer(to: first), count: bytes),
                records: records, lastRecordOffset: lastOffset)
            if position == 0 && batch.missed == 0 { array.setFlags(EventFlags.start.rawValue, ofRecordAt: offset) }
            position += UInt64(records)
            batch.records += records
            if isFinished && position == next {
                let last = array.lastRecordOffset
                array.setFlags(array.flags(ofRecordAt: last) | EventFlags.end.rawValue, ofRecordAt: last)
                appendTermination(ids, endReason, to: &array)
                batch.ended = true
            }
        }
        if isFinished && !batch.ended && position == next && batch.records < maxRecords {
            let flags: EventFlags = position == 0 && batch.missed == 0 ? [.start, .end] : [.point, .end]
            array.beginRecord(
                seconds: Int32(truncatingIfNeeded: finishTime.seconds),
                microseconds: finishTime.microseconds, flags: flags.rawValue)
            appendTermination(ids, endReason, to: &array)
            batch.records += 1
            batch.ended = true
        }
        batch.next = position
        return batch
    }

    private func appendTermination(_ ids: EventParameterIDs, _ endReason: String, to array: inout EventArrayEncoder) {
        array.addInteger(UInt32(bitPattern: termination?.shellStatus ?? 0), pmid: ids.exitstatus, type: .int32)
        array.addString(endReason, pmid: ids.endreason)
    }

    /// The lines from `cursor` on as text: each line followed by a newline
    /// (none after a piece of a longer line or a last line that had none),
    /// at most `maxBytes` bytes and cut at a record boundary (at least one
    /// record). A gap becomes a line `[N lines missed]`. NUL bytes become
    /// U+FFFD (a string metric ends at its first NUL). Returns the text and
    /// the reader's next position.
    /// `firstRead` as for `encode`: the note says the lines are no longer
    /// kept rather than missed.
    public mutating func text(from cursor: UInt64, maxBytes: Int, firstRead: Bool = false) -> (
        text: String, next: UInt64
    ) {
        var bytes: [UInt8] = []
        var position = cursor
        if position < oldest {
            if firstRead {
                bytes += Array("[the first \(oldest - position) lines are no longer kept]\n".utf8)
            } else {
                noteMissed(from: position, to: oldest)
                bytes += Array("[\(oldest - position) lines missed]\n".utf8)
            }
            position = oldest
        }
        while position < next {
            let record = UnsafeRawPointer(pointer(to: starts[startsHead + Int(position - oldest)]))
            let parsed = LineRecord.parse(record, layout: format.layout)
            let line = UnsafeRawBufferPointer(start: record + LineRecord.valueOffset, count: parsed.length)
            let needed = parsed.length * 3 + 1
            if !bytes.isEmpty && bytes.count + needed > maxBytes { break }
            for byte in line {
                if byte == 0 { bytes += [0xEF, 0xBF, 0xBD] } else { bytes.append(byte) }
            }
            if parsed.endsLine { bytes.append(0x0A) }
            position += 1
        }
        return (String(decoding: bytes, as: UTF8.self), position)
    }

    /// The last `lines` lines still buffered, as `text` gives them.
    public func tail(_ lines: Int) -> String {
        var copy = self
        let from = next >= UInt64(lines) ? max(oldest, next - UInt64(lines)) : oldest
        return copy.text(from: from, maxBytes: .max).text
    }
}
