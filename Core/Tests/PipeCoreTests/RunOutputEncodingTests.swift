import PipeCore
import Testing

/// The rules of a run's output written as plainly as possible: a list of
/// lines with their memory cost, a dropped-lines count, and fetches that
/// take from the front. Line framing is LineSplitter's (tested against its
/// own oracle); everything after it is modelled here, record by record.
private struct OutputModel {
    struct Line {
        var bytes: [UInt8]
        var stream: StreamKind
        var end: LineEnd
        var time: Timestamp
        var cost: Int { bytes.count + RecordQueue.recordOverhead }
    }

    let capacity: Int
    let policy: OverflowPolicy
    let ids = EventFormat.placeholder.parameters
    var splitters: [StreamKind: LineSplitter]
    var open: Set<StreamKind> = [.stdout, .stderr]
    var lines: [Line] = []
    var memoryUsed = 0
    var missed = 0
    var missedTime = Timestamp.zero
    var termination: Termination?
    var finishTime = Timestamp.zero
    var started = false
    var delivered = false

    init(capacity: Int, policy: OverflowPolicy, maxLineLength: Int) {
        self.capacity = capacity
        self.policy = policy
        splitters = [
            .stdout: LineSplitter(maxLineLength: maxLineLength), .stderr: LineSplitter(maxLineLength: maxLineLength),
        ]
    }

    mutating func enqueue(_ bytes: UnsafeRawBufferPointer, _ stream: StreamKind, end: LineEnd, _ time: Timestamp) {
        let line = Line(bytes: Array(bytes), stream: stream, end: end, time: time)
        if policy == .drop {
            while !lines.isEmpty && memoryUsed + line.cost > capacity {
                let dropped = lines.removeFirst()
                memoryUsed -= dropped.cost
                missed += 1
                missedTime = dropped.time
            }
        }
        lines.append(line)
        memoryUsed += line.cost
    }

    mutating func ingest(_ bytes: [UInt8], _ stream: StreamKind, _ time: Timestamp) {
        var splitter = splitters[stream]!
        bytes.withUnsafeBytes { splitter.append($0) { enqueue($0, stream, end: $1, time) } }
        splitters[stream] = splitter
    }

    mutating func close(_ stream: StreamKind, _ time: Timestamp) {
        guard open.remove(stream) != nil else { return }
        var splitter = splitters[stream]!
        splitter.finish { enqueue($0, stream, end: $1, time) }
        splitters[stream] = splitter
    }

    mutating func finish(_ termination: Termination, _ time: Timestamp) {
        close(.stdout, time)
        close(.stderr, time)
        self.termination = termination
        finishTime = time
    }

    func parameter(_ pmid: UInt32, _ type: UInt32, _ value: [UInt8]) -> DecodedParameter {
        DecodedParameter(pmid: pmid, type: type, value: value)
    }

    func endParameters(_ reason: String) -> [DecodedParameter] {
        let status = termination?.shellStatus ?? 0
        return [
            parameter(ids.exitstatus, 0, withUnsafeBytes(of: status) { Array($0) }),
            parameter(ids.endreason, 6, Array(reason.utf8)),
        ]
    }

    /// What one fetch returns.
    mutating func fetch(maxRecords: Int, maxBytes: Int, endReason: String) -> [DecodedRecord] {
        guard !delivered && maxRecords > 0 else { return [] }
        var records: [DecodedRecord] = []
        if missed > 0 {
            records.append(
                DecodedRecord(
                    seconds: Int32(truncatingIfNeeded: missedTime.seconds),
                    microseconds: missedTime.microseconds, flags: EventRecordLayout.missedFlag,
                    missed: missed, parameters: []))
            missed = 0
        }
        var taken = 0
        var payload = 0
        while let line = lines.first, records.count < maxRecords {
            if taken > 0 && payload + line.bytes.count > maxBytes { break }
            let raw = line.bytes.contains(0)
            let pmid =
                switch (line.stream, raw) {
                case (.stdout, false): ids.line
                case (.stderr, false): ids.errline
                case (.stdout, true): ids.rawline
                case (.stderr, true): ids.rawerrline
                }
            var parameters = [parameter(pmid, raw ? 7 : 6, line.bytes)]
            switch line.end {
            case .newline: break
            case .continued: parameters.append(parameter(ids.continued, 1, [1, 0, 0, 0]))
            case .endOfStream: parameters.append(parameter(ids.noeol, 1, [1, 0, 0, 0]))
            }
            // Nobody fetched before: the first line starts the run, unless
            // a gap marker came first.
            let flags = !started && records.isEmpty ? EventRecordLayout.startFlag : EventRecordLayout.pointFlag
            records.append(
                DecodedRecord(
                    seconds: Int32(truncatingIfNeeded: line.time.seconds),
                    microseconds: line.time.microseconds, flags: flags, missed: 0,
                    parameters: parameters))
            lines.removeFirst()
            memoryUsed -= line.cost
            taken += 1
            payload += line.bytes.count
        }
        if !records.isEmpty { started = true }
        let finished = termination != nil
        if finished && lines.isEmpty && taken > 0 {
            records[records.count - 1].flags |= EventRecordLayout.endFlag
            records[records.count - 1].parameters += endParameters(endReason)
            delivered = true
        } else if finished && lines.isEmpty && records.count < maxRecords {
            let first = started ? EventRecordLayout.pointFlag : EventRecordLayout.startFlag
            records.append(
                DecodedRecord(
                    seconds: Int32(truncatingIfNeeded: finishTime.seconds),
                    microseconds: finishTime.microseconds, flags: first | EventRecordLayout.endFlag,
                    missed: 0, parameters: endParameters(endReason)))
            started = true
            delivered = true
        }
        return records
    }
}

/// `RunOutput.encodeBatch` (what the agent sends: the queue's stored records
/// copied as a block, flags patched), read back by the decoder, must say
/// exactly what the model says. Random runs feed both the same output and
/// the same fetch limits, step by step.
@Suite struct RunOutputEncodingTests {
    static let reason = "exited"

    @Test(arguments: [(OverflowPolicy.block, 1 << 20), (.drop, 300), (.drop, 64)])
    func encodedBatchesMatchTheModel(policy: OverflowPolicy, capacity: Int) {
        let writer = EventArrayWriter(layout: .rightToLeft, initialCapacity: 64)
        for seed in 1...40 {
            var rng = SplitMix64(state: UInt64(seed))
            var run = RunOutput(queueCapacity: capacity, policy: policy, maxLineLength: 256)
            var model = OutputModel(capacity: capacity, policy: policy, maxLineLength: 256)
            var finished = false
            var steps = 0
            while run.phase != .delivered && steps < 400 {
                steps += 1
                let roll = Int.random(in: 0..<100, using: &rng)
                if !finished && roll < 55 {
                    var chunk: [UInt8] = []
                    for _ in 0..<Int.random(in: 0...6, using: &rng) {
                        let length = [0, 1, 3, 4, 5, 8, 40, 300, 700][Int.random(in: 0..<9, using: &rng)]
                        for _ in 0..<length {
                            chunk.append(
                                Int.random(in: 0..<50, using: &rng) == 0
                                    ? 0 : UInt8.random(in: 0x20...0x7E, using: &rng))
                        }
                        chunk += Int.random(in: 0..<5, using: &rng) == 0 ? [0x0D, 0x0A] : [0x0A]
                    }
                    if Int.random(in: 0..<4, using: &rng) == 0 { chunk.removeLast(min(chunk.count, 3)) }
                    let stream: StreamKind = Int.random(in: 0..<4, using: &rng) == 0 ? .stderr : .stdout
                    guard model.open.contains(stream) else { continue }
                    let time = stamp(Int64(steps), Int32(seed))
                    chunk.withUnsafeBytes { run.ingest($0, from: stream, at: time) }
                    model.ingest(chunk, stream, time)
                } else if !finished && roll < 58 {
                    let stream: StreamKind = Bool.random(using: &rng) ? .stdout : .stderr
                    run.closeStream(stream, at: stamp(Int64(steps), 500))
                    model.close(stream, stamp(Int64(steps), 500))
                } else if !finished && roll < 62 {
                    let termination: Termination = Bool.random(using: &rng) ? .exited(code: 3) : .signaled(signal: 9)
                    run.finish(termination, at: stamp(Int64(steps), 999))
                    model.finish(termination, stamp(Int64(steps), 999))
                    finished = true
                } else {
                    let maxRecords = Int.random(in: 1...8, using: &rng)
                    let maxBytes = Int.random(in: 0...900, using: &rng)
                    let want = model.fetch(maxRecords: maxRecords, maxBytes: maxBytes, endReason: Self.reason)
                    let (added, got) = run.fetchBatch(
                        into: writer, maxRecords: maxRecords, maxBytes: maxBytes,
                        endReason: Self.reason)
                    #expect(added == want.count)
                    #expect(got == want, "seed \(seed) step \(steps)")
                    #expect((run.phase == .delivered) == model.delivered)
                    if got != want { return }
                }
                #expect(run.queue.count == model.lines.count)
                #expect(run.queue.memoryUsed == model.memoryUsed)
                #expect(run.queue.pendingMissed == model.missed)
            }
            if !finished {
                run.finish(.exited(code: 0), at: stamp(1000))
            }
            // Drain to the end through the encoder alone: it must deliver.
            var rounds = 0
            while run.phase != .delivered && rounds < 10_000 {
                rounds += 1
                _ = run.fetchBatch(into: writer, maxRecords: 5, maxBytes: 500, endReason: Self.reason)
            }
            #expect(run.phase == .delivered)
        }
    }
}
