import PipeCore
import Testing

/// A record of a batch as the client reads it (`encodeBatch`, then the
/// decoder), in terms tests can write down.
private struct Record: Equatable, CustomStringConvertible {
    enum Payload: Equatable {
        case line(String, StreamKind, end: LineEnd)
        case missed(Int)
        case none
    }

    var payload: Payload
    var time: Timestamp
    var flags: EventFlags
    /// `exitstatus` (the shell's convention), on the end record only.
    var exitStatus: Int32?

    /// `flags` nil: MISSED for a missed marker (it never carries another
    /// flag), POINT for anything else.
    init(_ payload: Payload, at time: Timestamp = .zero, _ flags: EventFlags? = nil, _ termination: Termination? = nil)
    {
        self.payload = payload
        self.time = time
        if case .missed = payload { self.flags = flags ?? .missed } else { self.flags = flags ?? .point }
        exitStatus = termination?.shellStatus
    }

    init(_ record: DecodedRecord, ids: EventParameterIDs) {
        time = record.time
        flags = EventFlags(rawValue: record.flags)
        let end: LineEnd =
            record.value(of: ids.continued) == [1, 0, 0, 0]
            ? .continued
            : record.value(of: ids.noeol) == [1, 0, 0, 0] ? .endOfStream : .newline
        if flags == .missed {
            payload = .missed(record.missed)
        } else if let bytes = record.value(of: ids.line) ?? record.value(of: ids.rawline) {
            payload = .line(textOf(bytes), .stdout, end: end)
        } else if let bytes = record.value(of: ids.errline) ?? record.value(of: ids.rawerrline) {
            payload = .line(textOf(bytes), .stderr, end: end)
        } else {
            payload = .none
        }
        exitStatus = record.value(of: ids.exitstatus).map { bytes in
            bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        }
        // The status and the reason travel together.
        #expect((exitStatus == nil) == (record.value(of: ids.endreason) == nil))
    }

    var description: String { "\(payload)@\(time) flags=\(flags.rawValue)\(exitStatus.map { " status \($0)" } ?? "")" }
}

private func out(_ text: String, end: LineEnd = .newline) -> Record.Payload { .line(text, .stdout, end: end) }
private func err(_ text: String, end: LineEnd = .newline) -> Record.Payload { .line(text, .stderr, end: end) }

extension RunOutput {
    fileprivate mutating func feed(_ text: String, _ stream: StreamKind = .stdout, at time: Timestamp = .zero) {
        bytesOf(text).withUnsafeBytes { ingest($0, from: stream, at: time) }
    }

    fileprivate mutating func take(maxRecords: Int = .max, maxBytes: Int = .max) -> [Record] {
        let (added, records) = fetchBatch(
            into: EventArrayWriter(layout: queue.format.layout, initialCapacity: 64),
            maxRecords: maxRecords, maxBytes: maxBytes)
        #expect(added == records.count)
        return records.map { Record($0, ids: queue.format.parameters) }
    }
}

@Suite struct RunOutputTests {
    /// RunOutput checks a whole read for 0 bytes once; a line completed from
    /// bytes held back from an earlier read must still be checked on its own.
    @Test func nulBytesAreFoundWhereverTheLineWasAssembled() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        for chunk: [UInt8] in [[0x61, 0x00], [0x62, 0x0A, 0x63, 0x0A], [0x64, 0x00, 0x65, 0x0A, 0x66, 0x0A]] {
            chunk.withUnsafeBytes { run.ingest($0, from: .stdout, at: .zero) }
        }
        let ids = run.queue.format.parameters
        let seen = run.fetchBatch(into: EventArrayWriter(layout: .rightToLeft), maxRecords: 10, maxBytes: 1000)
            .records.map(\.parameters[0])
        #expect(seen.map(\.value) == [[0x61, 0x00, 0x62], [0x63], [0x64, 0x00, 0x65], [0x66]])
        #expect(seen.map(\.pmid) == [ids.rawline, ids.line, ids.rawline, ids.line])
    }

    @Test func outputBeforeTheFirstTakeIsKept() {
        // The C agent's queues discard records appended before the first
        // fetch; a short command must not vanish.
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("early\n", at: stamp(1))
        run.finish(.exited(code: 0), at: stamp(2))
        #expect(run.take() == [Record(out("early"), at: stamp(1), [.start, .end], .exited(code: 0))])
        #expect(run.phase == .delivered)
    }

    @Test func aSilentCommandYieldsOneStartAndEndRecord() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        #expect(run.take() == [])
        #expect(!run.hasPendingRecords)
        run.closeStream(.stdout, at: stamp(1))
        run.closeStream(.stderr, at: stamp(1))
        run.finish(.signaled(signal: 9), at: stamp(3))
        #expect(run.hasPendingRecords)
        #expect(run.take() == [Record(.none, at: stamp(3), [.start, .end], .signaled(signal: 9))])
        #expect(run.take() == [])
        #expect(!run.hasPendingRecords)
    }

    @Test func partialLastLineIsDeliveredAtFinish() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("one\ntw", at: stamp(1))
        #expect(run.take() == [Record(out("one"), at: stamp(1), .start)])
        run.feed("o", at: stamp(2))
        #expect(run.take() == [])
        run.finish(.exited(code: 3), at: stamp(4))
        #expect(run.take() == [Record(out("two", end: .endOfStream), at: stamp(4), [.point, .end], .exited(code: 3))])
    }

    @Test func closeStreamFlushesOnlyThatStream() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("out-partial")
        run.feed("err-partial", .stderr)
        run.closeStream(.stderr, at: stamp(5))
        #expect(run.take() == [Record(err("err-partial", end: .endOfStream), at: stamp(5), .start)])
        run.closeStream(.stdout, at: stamp(6))
        run.finish(.exited(code: 0), at: stamp(7))
        #expect(
            run.take() == [
                Record(out("out-partial", end: .endOfStream), at: stamp(6), [.point, .end], .exited(code: 0))
            ])
    }

    @Test func stdoutAndStderrLinesInterleaveInArrivalOrder() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("o1\no2-", at: stamp(1))
        run.feed("e1\ne2-", .stderr, at: stamp(2))
        run.feed("end\n", at: stamp(3))
        run.feed("end\n", .stderr, at: stamp(4))
        run.finish(.exited(code: 1), at: stamp(5))
        #expect(
            run.take() == [
                Record(out("o1"), at: stamp(1), .start),
                Record(err("e1"), at: stamp(2)),
                Record(out("o2-end"), at: stamp(3)),
                Record(err("e2-end"), at: stamp(4), [.point, .end], .exited(code: 1)),
            ])
        #expect(run.bytesIngested == 20)
    }

    @Test func blockPolicyStopsWantingInputWhileTheQueueIsFull() {
        var run = RunOutput(queueCapacity: 64, policy: .block, maxLineLength: 1024)
        #expect(run.wantsInput)
        run.feed("0123456789abcdef\n")  // 16 + 16
        #expect(run.wantsInput)
        run.feed("0123456789abcdef\n0123456789abcdef\n")  // 96 in all
        #expect(!run.wantsInput)
        #expect(run.queue.totalDropped == 0)
        #expect(run.take(maxRecords: 1).count == 1)
        #expect(!run.wantsInput)  // 64: still full
        #expect(run.take(maxRecords: 1).count == 1)
        #expect(run.wantsInput)
        run.finish(.exited(code: 0), at: .zero)
        #expect(!run.wantsInput)
    }

    @Test func theLineBeingAssembledCountsTowardTheQueue() {
        var run = RunOutput(queueCapacity: 64, policy: .block, maxLineLength: 1024)
        run.feed("0123456789abcdef\n")  // 16 + 16 queued
        #expect(run.bytesHeld == 32)
        run.feed(String(repeating: "x", count: 31))  // no newline yet: held, not queued
        #expect(run.bytesHeld == 63)
        #expect(run.wantsInput)
        run.feed("y", .stderr)  // the other stream's unfinished line counts too
        #expect(run.bytesHeld == 64)
        #expect(!run.wantsInput)
        #expect(run.take(maxRecords: 1).count == 1)
        #expect(run.bytesHeld == 32)
        #expect(run.wantsInput)
    }

    @Test func aRunWithNothingToFetchAlwaysWantsInput() {
        // An attacker's command writes a max_line line without its newline
        // on both streams: the queue is empty, the two lines being assembled
        // hold exactly the capacity -C accepts (twice max_line). If the run
        // stopped reading there, the client would have nothing to fetch and
        // the command would wait on its pipe for ever.
        let maxLine = 256
        var run = RunOutput(queueCapacity: 2 * maxLine, policy: .block, maxLineLength: maxLine)
        run.feed(String(repeating: "o", count: maxLine))
        run.feed(String(repeating: "e", count: maxLine), .stderr)
        #expect(run.queue.count == 0)
        #expect(run.bytesHeld == 2 * maxLine)
        #expect(run.wantsInput)
        run.feed("\n")
        #expect(run.take().count == 1)
    }

    @Test func aNeverFetchedRunOfLongLinesHoldsItsCapacityPlusOneRead() {
        // As the agent sizes it: twice max_line and 4 KiB. The command
        // writes one line of ten max_lines; the caller reads 64 KiB at a
        // time while the run wants input.
        let maxLine = 256 << 10
        let capacity = 2 * maxLine + 4096
        let read = [UInt8](repeating: 0x61, count: 64 << 10)
        var run = RunOutput(queueCapacity: capacity, policy: .block, maxLineLength: maxLine)
        var ingested = 0
        while run.wantsInput && ingested < 10 * maxLine {
            read.withUnsafeBytes { run.ingest($0, from: .stdout, at: .zero) }
            ingested += read.count
        }
        #expect(!run.wantsInput)
        #expect(run.queue.count == 2, "two pieces queued, the third not assembled")
        #expect(run.bytesHeld >= capacity)
        #expect(run.bytesHeld < capacity + read.count)
    }

    @Test func dropPolicyAlwaysWantsInputAndReportsExactMissedCountsAtTheGap() {
        // 1-byte lines cost 17; capacity 51 holds three.
        var run = RunOutput(queueCapacity: 51, policy: .drop, maxLineLength: 1024)
        run.feed("a\n", at: stamp(1))
        #expect(run.take() == [Record(out("a"), at: stamp(1), .start)])
        for (index, letter) in "bcdefgh".enumerated() {
            run.feed("\(letter)\n", at: stamp(Int64(index + 2)))
            #expect(run.wantsInput)
        }
        // b..e dropped (4 lines), f g h kept.
        #expect(run.take(maxRecords: 2) == [Record(.missed(4), at: stamp(5)), Record(out("f"), at: stamp(6))])
        run.feed("i\n", at: stamp(9))
        run.finish(.exited(code: 0), at: stamp(10))
        #expect(
            run.take() == [
                Record(out("g"), at: stamp(7)), Record(out("h"), at: stamp(8)),
                Record(out("i"), at: stamp(9), [.point, .end], .exited(code: 0)),
            ])
        #expect(run.queue.totalDropped == 4)
        #expect(run.queue.totalRecords == 9)
    }

    @Test func aMissedMarkerCanBeTheRunsLastRecord() {
        var run = RunOutput(queueCapacity: 17, policy: .drop, maxLineLength: 1024)
        run.feed("a\nb\n")
        #expect(run.take(maxRecords: 1) == [Record(.missed(1), at: .zero)])
        run.finish(.exited(code: 0), at: stamp(1))
        #expect(run.take() == [Record(out("b"), at: .zero, [.point, .end], .exited(code: 0))])
    }

    @Test func batchLimitsAreRespectedAndTheEndFlagComesExactlyOnce() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        for index in 0..<10 { run.feed("line\(index)\n") }  // 5 bytes each
        run.finish(.exited(code: 0), at: stamp(1))
        var all: [Record] = []
        var batches = 0
        while run.phase != .delivered {
            let batch = run.take(maxRecords: 3, maxBytes: 10)
            #expect(batch.count >= 1 && batch.count <= 2)
            all += batch
            batches += 1
        }
        #expect(batches == 5)
        #expect(all.count == 10)
        #expect(all.filter { $0.flags.contains(.end) }.count == 1)
        #expect(all.last?.flags == [.point, .end])
        #expect(all.last?.exitStatus == 0)
        #expect(all.filter { $0.exitStatus != nil }.count == 1)
        #expect(all.first?.flags == .start)
        #expect(run.take() == [])
    }

    @Test func whenTheBatchIsFullTheEndComesAsAStandaloneRecordNextTime() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("only\n")
        #expect(run.take(maxRecords: 1) == [Record(out("only"), at: .zero, .start)])
        run.finish(.exited(code: 2), at: stamp(9))
        #expect(run.phase == .finished)
        #expect(run.take(maxRecords: 1) == [Record(.none, at: stamp(9), [.point, .end], .exited(code: 2))])
        #expect(run.phase == .delivered)
    }

    @Test func longLinesArriveAsContinuedPieces() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 4)
        run.feed("abcdefghij\n")
        run.finish(.exited(code: 0), at: .zero)
        #expect(run.take().map(\.payload) == [out("abcd", end: .continued), out("efgh", end: .continued), out("ij")])
    }

    @Test func crlfLinesKeepTheirCR() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("dos\r\n\r\nlone\rcr\n")
        run.feed("err\r\n", .stderr)
        #expect(
            run.take() == [
                Record(out("dos\r"), at: .zero, .start), Record(out("\r")), Record(out("lone\rcr")),
                Record(err("err\r")),
            ])
    }

    @Test func aLongLastLineWithoutNewlineEndsWithItsNoeolPiece() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 4)
        run.feed("abcdefghij")
        run.closeStream(.stdout, at: .zero)
        #expect(
            run.take().map(\.payload) == [
                out("abcd", end: .continued), out("efgh", end: .continued),
                out("ij", end: .endOfStream),
            ])
        // Exactly a multiple of the limit: the last piece is whole, still marked.
        var exact = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 4)
        exact.feed("abcdefgh")
        exact.finish(.exited(code: 0), at: .zero)
        #expect(exact.take().map(\.payload) == [out("abcd", end: .continued), out("efgh", end: .endOfStream)])
    }

    @Test func theEndRecordCanBeANoeolLine() {
        var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: 1024)
        run.feed("done\r", .stderr)
        run.finish(.exited(code: 4), at: stamp(2))
        let writer = EventArrayWriter(layout: .rightToLeft)
        let (_, records) = run.fetchBatch(into: writer, endReason: "exited")
        let ids = run.queue.format.parameters
        #expect(
            records.map(\.parameters) == [
                [
                    DecodedParameter(pmid: ids.errline, type: 6, value: bytesOf("done\r")),
                    DecodedParameter(pmid: ids.noeol, type: 1, value: [1, 0, 0, 0]),
                    DecodedParameter(pmid: ids.exitstatus, type: 0, value: [4, 0, 0, 0]),
                    DecodedParameter(pmid: ids.endreason, type: 6, value: bytesOf("exited")),
                ]
            ])
        #expect(records.first?.flags == EventRecordLayout.startFlag | EventRecordLayout.endFlag)
    }

    /// The promise pmpipe keeps: each stream comes back byte for byte,
    /// whatever the bytes (CR LF, lone CR, NUL, invalid UTF-8, long lines,
    /// no final newline), however the pipe chunks them (one byte at a time
    /// too) and however the client's fetches cut the batches.
    @Test(arguments: [3, 16, 4096])
    func everyStreamComesBackByteForByte(maxLineLength: Int) throws {
        let alphabet: [UInt8] = [0x0A, 0x0A, 0x0D, 0x00, 0x61, 0x62, 0xFF, 0xC3]
        let endings: [[UInt8]] = [[], [0x0A], [0x0D], [0x0D, 0x0A], [0x0A, 0x0A], [0x00], [0x0A, 0x0D]]
        let writer = EventArrayWriter(layout: .rightToLeft, initialCapacity: 64)
        for seed in UInt64(1)...60 {
            var rng = SplitMix64(state: seed)
            var inputs: [StreamKind: [UInt8]] = [:]
            for stream in [StreamKind.stdout, .stderr] {
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 0...300, using: &rng) { bytes.append(alphabet.randomElement(using: &rng)!) }
                if seed % 5 == 0 { bytes += [UInt8](repeating: 0x6C, count: 3 * maxLineLength) }
                inputs[stream] = bytes + endings[Int(seed) % endings.count]
            }
            var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: maxLineLength)
            var rebuilt: [StreamKind: [UInt8]] = [.stdout: [], .stderr: []]
            let ids = run.queue.format.parameters
            func fetch() throws {
                let (_, records) = run.fetchBatch(
                    into: writer, maxRecords: Int.random(in: 1...9, using: &rng),
                    maxBytes: Int.random(in: 0...64, using: &rng))
                for record in records where record.flags != EventRecordLayout.missedFlag {
                    guard let line = record.parameters.first, line.pmid != ids.exitstatus else { continue }
                    let stream: StreamKind = line.pmid == ids.errline || line.pmid == ids.rawerrline ? .stderr : .stdout
                    let marked = record.value(of: ids.continued) != nil || record.value(of: ids.noeol) != nil
                    rebuilt[stream]! += line.value + (marked ? [] : [0x0A])
                }
            }
            var offsets: [StreamKind: Int] = [.stdout: 0, .stderr: 0]
            while let stream = [StreamKind.stdout, .stderr].filter({ offsets[$0]! < inputs[$0]!.count })
                .randomElement(using: &rng)
            {
                let start = offsets[stream]!
                let size = seed % 3 == 0 ? 1 : Int.random(in: 1...40, using: &rng)
                let end = min(inputs[stream]!.count, start + size)
                inputs[stream]![start..<end].withUnsafeBytes { run.ingest($0, from: stream, at: .zero) }
                offsets[stream] = end
                if Int.random(in: 0..<3, using: &rng) == 0 { try fetch() }
            }
            run.finish(.exited(code: 0), at: .zero)
            while run.phase != .delivered { try fetch() }
            #expect(rebuilt[.stdout] == inputs[.stdout], "stdout, seed \(seed)")
            #expect(rebuilt[.stderr] == inputs[.stderr], "stderr, seed \(seed)")
        }
    }

    @Test func eventFlagsMatchPCPsValues() {
        #expect(EventFlags.point.rawValue == 1)
        #expect(EventFlags.start.rawValue == 2)
        #expect(EventFlags.end.rawValue == 4)
    }

    /// One million short lines (`seq 1 1000000`) through split, queue and
    /// encoding, in 64 KiB reads and batches of 16384 records as pmpipe
    /// gets them, then read back by the decoder. No time limit here (the
    /// end-to-end benchmark lives elsewhere); the time is printed so a
    /// regression shows. A release build does this in well under a second.
    @Test func aMillionLinesFlowThroughWithoutLoss() throws {
        var input: [UInt8] = []
        input.reserveCapacity(6_888_896)
        for number in 1...1_000_000 {
            input += String(number).utf8
            input.append(0x0A)
        }

        struct Tally: EventRecordHandler {
            var lines = 0, bytes = 0, ends = 0
            mutating func handle(_ record: EventRecord) {
                if record.flags & EventRecordLayout.endFlag != 0 { ends += 1 }
                guard record.parameterCount > 0, record.firstParameter.pmid == EventFormat.placeholder.parameters.line
                else { return }
                lines += 1
                bytes += record.firstParameter.value.count
            }
        }
        var run = RunOutput(queueCapacity: 4 << 20, policy: .block, maxLineLength: 4096)
        let writer = EventArrayWriter(layout: .rightToLeft)
        var tally = Tally()
        func fetch() throws {
            writer.reset()
            writer.encode {
                _ = run.encodeBatch(into: &$0, maxRecords: 16384, maxBytes: 512 << 10, endReason: "exited")
            }
            try EventArrayDecoder.decode(writer.finish(), layout: .rightToLeft, into: &tally)
        }
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            try input.withUnsafeBytes { all in
                var offset = 0
                while offset < all.count {
                    let end = min(all.count, offset + 65536)
                    if run.wantsInput {
                        run.ingest(UnsafeRawBufferPointer(rebasing: all[offset..<end]), from: .stdout, at: .zero)
                        offset = end
                    }
                    try fetch()
                }
            }
            run.finish(.exited(code: 0), at: .zero)
            while run.phase != .delivered { try fetch() }
        }
        print("1M lines through LineSplitter+RecordQueue+encodeBatch+decode: \(elapsed)")
        #expect(tally.lines == 1_000_000)
        #expect(tally.bytes == input.count - 1_000_000)
        #expect(tally.ends == 1)
        #expect(run.queue.totalDropped == 0)
    }
}
