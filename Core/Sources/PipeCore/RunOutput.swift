// One run's output as its client sees it. This is the promise the C pipe
// agent broke: everything the command printed, from the first byte (even if
// the client has not fetched yet), in order and exactly (each stream can be
// put back together byte for byte), then exactly one end record with
// the exit status; and under the drop policy an exact count of what was lost,
// at the place where it was lost.

/// The delivery state machine for one run: lines from stdout and stderr go
/// in as they are read, batches of event records come out as the client
/// fetches.
public struct RunOutput: Sendable {
    /// Where a run is in its life, as far as its client is concerned.
    public enum Phase: Sendable, Hashable {
        /// The command may still produce output.
        case running
        /// The exit is known; records or the end record are still to deliver.
        case finished
        /// The end record has been handed out; nothing more will come.
        case delivered
    }

    public private(set) var queue: RecordQueue
    public private(set) var phase: Phase = .running
    /// Bytes read from both streams, newlines included.
    public private(set) var bytesIngested: UInt64 = 0

    private var stdoutLines: LineSplitter
    private var stderrLines: LineSplitter
    private var stdoutOpen = true
    private var stderrOpen = true
    private var termination: Termination?
    private var finishTime = Timestamp.zero
    /// Whether any record has been handed out (the first line gets START).
    private var started = false

    public init(queueCapacity: Int, policy: OverflowPolicy, maxLineLength: Int, format: EventFormat = .placeholder) {
        queue = RecordQueue(capacity: queueCapacity, policy: policy, format: format)
        stdoutLines = LineSplitter(maxLineLength: maxLineLength)
        stderrLines = LineSplitter(maxLineLength: maxLineLength)
    }

    // MARK: - Input side

    /// Bytes read from the command's stdout or stderr at time `time`: split
    /// into lines, queued.
    public mutating func ingest(_ bytes: UnsafeRawBufferPointer, from stream: StreamKind, at time: Timestamp) {
        precondition(phase == .running, "output ingested after the run finished")
        bytesIngested &+= UInt64(bytes.count)
        switch stream {
        case .stdout:
            precondition(stdoutOpen, "stdout ingested after it was closed")
            Self.feed(&stdoutLines, into: &queue, bytes, stream: stream, time: time)
        case .stderr:
            precondition(stderrOpen, "stderr ingested after it was closed")
            Self.feed(&stderrLines, into: &queue, bytes, stream: stream, time: time)
        }
    }

    /// EOF on that stream: its partial last line (output that did not end
    /// with a newline) is queued, marked `noeol`. Closing twice is
    /// harmless.
    public mutating func closeStream(_ stream: StreamKind, at time: Timestamp) {
        switch stream {
        case .stdout:
            stdoutOpen = false
            Self.flush(&stdoutLines, into: &queue, stream: stream, time: time)
        case .stderr:
            stderrOpen = false
            Self.flush(&stderrLines, into: &queue, stream: stream, time: time)
        }
    }

    /// The process has been reaped and both streams are closed: the run is
    /// over. A stream still open is closed here, so its partial line is not
    /// lost.
    public mutating func finish(_ termination: Termination, at time: Timestamp) {
        precondition(phase == .running, "a run finished twice")
        if stdoutOpen { closeStream(.stdout, at: time) }
        if stderrOpen { closeStream(.stderr, at: time) }
        self.termination = termination
        finishTime = time
        phase = .finished
    }

    /// Bytes held for the client: the queue's `memoryUsed` plus the lines
    /// still being assembled on both streams (up to `max_line` + 1 bytes
    /// each), which count toward the queue's capacity.
    public var bytesHeld: Int {
        queue.memoryUsed + stdoutLines.pendingByteCount + stderrLines.pendingByteCount
    }

    /// Whether the caller should read the command's pipes: false while the
    /// policy is `.block` and what is held (`bytesHeld`) fills the queue's
    /// capacity, and once the run is over. So a run that is never fetched
    /// holds at most its capacity plus one read, not its capacity plus a
    /// line being assembled. A run with nothing to fetch always wants
    /// input, whatever its two unfinished lines hold (each at most
    /// `max_line`): otherwise, with a capacity of exactly twice `max_line`
    /// (which -C accepts; the agent adds 4 KiB), a line of `max_line` bytes
    /// without its newline on each stream stopped the run for good, the
    /// client having nothing to fetch that would make room.
    public var wantsInput: Bool {
        phase == .running && (queue.policy == .drop || bytesHeld < queue.capacity || !hasQueuedItems)
    }

    /// Whether `encodeBatch` would add anything: lines, a gap marker, or
    /// the end record.
    public var hasPendingRecords: Bool { hasQueuedItems || phase == .finished }

    // splitter and queue are separate stored properties, so passing both
    // inout is allowed; a closure capturing `self` inside a mutating call on
    // one of them would not be.
    private static func feed(
        _ splitter: inout LineSplitter, into queue: inout RecordQueue,
        _ bytes: UnsafeRawBufferPointer, stream: StreamKind, time: Timestamp
    ) {
        // One check of the whole read instead of one per line: a line that
        // lies inside a read without 0 bytes has none. (A line completed from
        // the splitter's held-back bytes lies elsewhere and is checked alone.)
        let readHasNUL = ByteSearch.containsZero(bytes)
        let readStart = UInt(bitPattern: bytes.baseAddress)
        let readEnd = readStart + UInt(bytes.count)
        splitter.append(bytes) { line, end in
            let address = UInt(bitPattern: line.baseAddress)
            let insideRead = address >= readStart && address + UInt(line.count) <= readEnd
            queue.append(
                line, stream: stream, end: end, time: time,
                mayContainNUL: readHasNUL || !insideRead)
        }
    }

    private static func flush(
        _ splitter: inout LineSplitter, into queue: inout RecordQueue, stream: StreamKind, time: Timestamp
    ) {
        splitter.finish { line, end in
            queue.append(line, stream: stream, end: end, time: time)
        }
    }

    // MARK: - Output side

    /// Encodes the next batch into `array` as event records, in the layout
    /// the queue already stores lines in, so the lines are copied as one
    /// block. A line is a `line`/`errline` string, or `rawline`/`rawerrline`
    /// bytes when it holds a NUL (clients read a string up to its first
    /// NUL), without its newline; a piece of a longer line also carries
    /// `continued`, and a stream's last line that had no newline `noeol`,
    /// so that the client can put the output back together byte for byte.
    /// Lines dropped under the drop policy are a MISSED record with their
    /// count, at the place of the gap.
    ///
    /// The run's very first record is flagged START (unless it is a MISSED
    /// record, which carries no other flag). Once `finish` was called and
    /// the queue empties within this batch, the last line record is flagged
    /// END and also carries `exitstatus` and `endreason`; if no line is left
    /// to carry them, a record of its own does (when the batch has room).
    /// After the END record, `phase == .delivered` and further calls add
    /// nothing. Returns the number of records added.
    @discardableResult
    public mutating func encodeBatch(
        into array: inout EventArrayEncoder, maxRecords: Int, maxBytes: Int, endReason: String
    ) -> Int {
        guard phase != .delivered && maxRecords > 0 else { return 0 }
        let finished = phase == .finished
        let ids = queue.format.parameters
        let batch = queue.encode(into: &array, maxRecords: maxRecords, maxBytes: maxBytes)
        var added = batch.records
        var ended = false
        if let firstLine = batch.firstLineRecord {
            if !started && !batch.missedMarker {
                array.setFlags(EventFlags.start.rawValue, ofRecordAt: firstLine)
            }
            if finished && !hasQueuedItems {
                // The end rides on the last line (a MISSED record cannot
                // carry it: it has no parameters).
                let last = array.lastRecordOffset
                array.setFlags(array.flags(ofRecordAt: last) | EventFlags.end.rawValue, ofRecordAt: last)
                Self.appendTermination(termination, endReason, ids, to: &array)
                ended = true
            }
        }
        if batch.records > 0 { started = true }
        if finished && !ended && added < maxRecords && !hasQueuedItems {
            // Nothing left to carry the end: a record of its own.
            let flags: EventFlags = started ? [.point, .end] : [.start, .end]
            array.beginRecord(
                seconds: Int32(truncatingIfNeeded: finishTime.seconds),
                microseconds: finishTime.microseconds, flags: flags.rawValue)
            Self.appendTermination(termination, endReason, ids, to: &array)
            started = true
            ended = true
            added += 1
        }
        if ended { phase = .delivered }
        return added
    }

    private var hasQueuedItems: Bool { queue.count > 0 || queue.pendingMissed > 0 }

    private static func appendTermination(
        _ termination: Termination?, _ endReason: String,
        _ ids: EventParameterIDs, to array: inout EventArrayEncoder
    ) {
        array.addInteger(UInt32(bitPattern: termination?.shellStatus ?? 0), pmid: ids.exitstatus, type: .int32)
        array.addString(endReason, pmid: ids.endreason)
    }
}

/// The PMIDs of the event parameters a run's records carry (the metric
/// table's `pipe.line`, `pipe.errline` ...).
public struct EventParameterIDs: Sendable, Equatable {
    /// A line: stdout or stderr, a string or (holding a NUL) raw bytes.
    public var line, errline, rawline, rawerrline: UInt32
    /// How a line ends when it does not end with a newline: a piece of a
    /// longer line (`continued`), or the stream's last line, which had no
    /// newline (`noeol`). Both U32 with value 1.
    public var continued, noeol: UInt32
    /// The end record's exit status and reason.
    public var exitstatus, endreason: UInt32

    public init(
        line: UInt32, errline: UInt32, rawline: UInt32, rawerrline: UInt32,
        continued: UInt32, noeol: UInt32, exitstatus: UInt32, endreason: UInt32
    ) {
        self.line = line
        self.errline = errline
        self.rawline = rawline
        self.rawerrline = rawerrline
        self.continued = continued
        self.noeol = noeol
        self.exitstatus = exitstatus
        self.endreason = endreason
    }
}
