// One run's output as its client sees it. This is the promise the C pipe
// agent broke: everything the command printed, from the first byte (even if
// the client has not fetched yet), in order, then exactly one end record with
// the exit status; and under the drop policy an exact count of what was lost,
// at the place where it was lost.

/// What one output record carries.
public enum OutputPayload {
    /// A line (or piece of a long line). `bytes` is valid only during the
    /// visit and is followed in memory by a 0 byte; see `QueueItem.line`.
    case line(bytes: UnsafeRawBufferPointer, stream: StreamKind, continued: Bool, containsNUL: Bool)
    /// `count` lines were dropped here (drop policy).
    case missed(count: Int)
    /// Nothing: a standalone end record.
    case none
}

/// One event record to hand to the client.
public struct OutputRecord {
    public let payload: OutputPayload
    public let time: Timestamp
    public let flags: EventFlags
    /// Only on the end record.
    public let termination: Termination?

    public init(payload: OutputPayload, time: Timestamp, flags: EventFlags, termination: Termination?) {
        self.payload = payload
        self.time = time
        self.flags = flags
        self.termination = termination
    }
}

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
    /// Whether any record (so the one flagged `.start`) has been handed out.
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

    /// EOF on that stream: flush its partial last line. Closing twice is
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

    /// Whether the caller should read the command's pipes: false while the
    /// policy is `.block` and the queue is full (and once the run is over).
    public var wantsInput: Bool {
        phase == .running && (queue.policy == .drop || !queue.isFull)
    }

    /// Whether `takeBatch` would hand out anything: lines, a gap marker, or
    /// the end record.
    public var hasPendingRecords: Bool {
        queue.count > 0 || queue.pendingMissed > 0 || phase == .finished
    }

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
        let start = UInt(bitPattern: bytes.baseAddress), end = start + UInt(bytes.count)
        splitter.append(bytes) { line, continued in
            let address = UInt(bitPattern: line.baseAddress)
            let insideRead = address >= start && address + UInt(line.count) <= end
            queue.append(line, stream: stream, continued: continued, time: time,
                         mayContainNUL: readHasNUL || !insideRead)
        }
    }

    private static func flush(
        _ splitter: inout LineSplitter, into queue: inout RecordQueue, stream: StreamKind, time: Timestamp
    ) {
        splitter.finish { line, continued in
            queue.append(line, stream: stream, continued: continued, time: time)
        }
    }

    // MARK: - Output side

    /// Hands out the next batch as records in order. The very first record of
    /// the run gets `.start`, others `.point`; once `finish` was called and the
    /// queue drains empty within this batch, the last record of the batch gets
    /// `.end` and carries the termination (if nothing is left to attach it to,
    /// a standalone end record with no payload is produced). Missed markers
    /// are their own records. After the end record has been handed out,
    /// `phase == .delivered` and further calls visit nothing. Returns the
    /// number of records visited.
    @discardableResult
    public mutating func takeBatch(maxRecords: Int, maxBytes: Int, _ visit: (OutputRecord) -> Void) -> Int {
        guard phase != .delivered && maxRecords > 0 else { return 0 }
        let finished = phase == .finished
        let termination = self.termination
        var started = self.started
        var ended = false
        let visited = queue.drain(maxRecords: maxRecords, maxBytes: maxBytes) { item, emptiesQueue in
            var flags: EventFlags = started ? .point : .start
            started = true
            // The end rides on the last line; a gap marker cannot carry it
            // (a MISSED record has no parameters), so then it gets a record
            // of its own below.
            var isEnd = finished && emptiesQueue
            if case .missed = item { isEnd = false }
            if isEnd {
                flags.insert(.end)
                ended = true
            }
            switch item {
            case .missed(let count, let time):
                visit(OutputRecord(
                    payload: .missed(count: count), time: time, flags: flags,
                    termination: isEnd ? termination : nil))
            case .line(let bytes, let stream, let continued, let time, let containsNUL):
                visit(OutputRecord(
                    payload: .line(bytes: bytes, stream: stream, continued: continued, containsNUL: containsNUL),
                    time: time, flags: flags, termination: isEnd ? termination : nil))
            }
        }
        self.started = started
        if finished && !ended && visited < maxRecords && !hasQueuedItems {
            // Nothing left to carry the end flag: a record of its own.
            let flags: EventFlags = started ? [.point, .end] : [.start, .end]
            visit(OutputRecord(payload: .none, time: finishTime, flags: flags, termination: termination))
            self.started = true
            phase = .delivered
            return visited + 1
        }
        if ended { phase = .delivered }
        return visited
    }

    private var hasQueuedItems: Bool { queue.count > 0 || queue.pendingMissed > 0 }

    // MARK: - Encoding

    /// Encodes the next batch as event records: exactly what `takeBatch`
    /// hands out, in the layout the queue already stores lines in, so the
    /// lines are copied as one block. A line is a `line`/`errline` string, or
    /// `rawline`/`rawerrline` bytes when it holds a NUL (clients read a string
    /// up to its first NUL), plus `continued` on a piece of a longer line;
    /// the end record also carries `exitstatus` and `endreason`. Returns the
    /// number of records added.
    @discardableResult
    public mutating func encodeBatch(
        into array: inout EventArrayEncoder, maxRecords: Int, maxBytes: Int, endReason: String
    ) -> Int {
        guard phase != .delivered && maxRecords > 0 else { return 0 }
        let finished = phase == .finished
        let ids = queue.format.parameters
        let termination = self.termination
        var started = self.started
        var added = 0
        if queue.pendingMissed > 0 {
            let missed = queue.takeMissed()
            let time = queue.missedTime
            array.addMissedRecord(seconds: Int32(truncatingIfNeeded: time.seconds), microseconds: time.microseconds,
                                  count: Int32(clamping: missed))
            started = true
            added = 1
        }
        var ended = false
        added += queue.takeEncoded(maxRecords: maxRecords - added, maxBytes: maxBytes) { bytes, records, last, empties in
            let first = array.appendEncodedRecords(bytes, records: records, lastRecordOffset: last)
            if !started {
                array.setFlags(EventFlags.start.rawValue, ofRecordAt: first)
                started = true
            }
            if finished && empties {
                let lastRecord = array.lastRecordOffset
                array.setFlags(array.flags(ofRecordAt: lastRecord) | EventFlags.end.rawValue, ofRecordAt: lastRecord)
                Self.appendTermination(termination, endReason, ids, to: &array)
                ended = true
            }
        }
        if finished && !ended && added < maxRecords && !hasQueuedItems {
            let flags: EventFlags = started ? [.point, .end] : [.start, .end]
            array.beginRecord(seconds: Int32(truncatingIfNeeded: finishTime.seconds),
                              microseconds: finishTime.microseconds, flags: flags.rawValue)
            Self.appendTermination(termination, endReason, ids, to: &array)
            started = true
            ended = true
            added += 1
        }
        self.started = started
        if ended { phase = .delivered }
        return added
    }

    private static func appendTermination(_ termination: Termination?, _ endReason: String,
                                          _ ids: EventParameterIDs, to array: inout EventArrayEncoder) {
        array.addInteger(UInt32(bitPattern: termination?.shellStatus ?? 0), pmid: ids.exitstatus, type: .int32)
        array.addString(endReason, pmid: ids.endreason)
    }
}

/// The PMIDs of the event parameters a run's records carry.
public struct EventParameterIDs: Sendable, Equatable {
    public var line, errline, rawline, rawerrline, continued, exitstatus, endreason: UInt32

    public init(line: UInt32, errline: UInt32, rawline: UInt32, rawerrline: UInt32,
                continued: UInt32, exitstatus: UInt32, endreason: UInt32) {
        self.line = line
        self.errline = errline
        self.rawline = rawline
        self.rawerrline = rawerrline
        self.continued = continued
        self.exitstatus = exitstatus
        self.endreason = endreason
    }
}
