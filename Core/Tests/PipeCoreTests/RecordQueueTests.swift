import PipeCore
import Testing

/// A record of a batch, as the client reads it, so tests can compare it.
private enum Drained: Equatable, CustomStringConvertible {
    case missed(Int, Timestamp)
    case line(String, StreamKind, end: LineEnd, Timestamp)

    var description: String {
        switch self {
        case .missed(let count, let time): return "missed(\(count) @\(time))"
        case .line(let text, let stream, let end, let time):
            return "\(stream):\(String(reflecting: text))\(end)@\(time)"
        }
    }
}

private func line(_ text: String, _ stream: StreamKind = .stdout, end: LineEnd = .newline, at time: Timestamp = .zero)
    -> Drained
{
    .line(text, stream, end: end, time)
}

extension RecordQueue {
    fileprivate mutating func append(
        _ text: String, _ stream: StreamKind = .stdout, end: LineEnd = .newline, at time: Timestamp = .zero
    ) {
        bytesOf(text).withUnsafeBytes { append($0, stream: stream, end: end, time: time) }
    }

    /// The next batch (`encode`) as the client reads it: how many records
    /// `encode` said it added, and the records.
    fileprivate mutating func takeRecords(maxRecords: Int, maxBytes: Int) -> (added: Int, records: [DecodedRecord]) {
        let writer = EventArrayWriter(layout: format.layout, initialCapacity: 64)
        let added = writer.encode { encode(into: &$0, maxRecords: maxRecords, maxBytes: maxBytes).records }
        let records = (try? decodeEventArray(writer.finish(), layout: format.layout)) ?? []
        #expect(added == records.count)
        return (added, records)
    }

    fileprivate mutating func drainAll(maxRecords: Int = .max, maxBytes: Int = .max) -> [Drained] {
        let ids = format.parameters
        return takeRecords(maxRecords: maxRecords, maxBytes: maxBytes).records.map { record in
            if record.flags == EventRecordLayout.missedFlag { return .missed(record.missed, record.time) }
            #expect(record.flags == EventRecordLayout.pointFlag)
            let line = record.parameters[0]
            let stream: StreamKind = line.pmid == ids.errline || line.pmid == ids.rawerrline ? .stderr : .stdout
            // A line ends with a newline unless a second parameter says otherwise.
            var end = LineEnd.newline
            if record.parameters.count == 2 {
                let mark = record.parameters[1]
                #expect(mark.type == 1 && mark.value == [1, 0, 0, 0], "continued and noeol are U32 1")
                end = mark.pmid == ids.continued ? .continued : mark.pmid == ids.noeol ? .endOfStream : .newline
            }
            #expect(record.parameters.count <= 2)
            return .line(textOf(line.value), stream, end: end, record.time)
        }
    }
}

@Suite struct RecordQueueTests {
    @Test func batchesAreInFIFOOrderWithStreamFlagsAndTimes() {
        var queue = RecordQueue(capacity: 1 << 20, policy: .block)
        queue.append("a", at: stamp(1))
        queue.append("b", .stderr, at: stamp(2))
        queue.append("c", end: .continued, at: stamp(3))
        queue.append("d", .stderr, end: .endOfStream, at: stamp(4))
        #expect(queue.count == 4)
        #expect(
            queue.drainAll() == [
                line("a", .stdout, at: stamp(1)), line("b", .stderr, at: stamp(2)),
                line("c", end: .continued, at: stamp(3)), line("d", .stderr, end: .endOfStream, at: stamp(4)),
            ])
        #expect(queue.count == 0)
        #expect(queue.drainAll() == [])
    }

    @Test func memoryUsedCountsPayloadPlusSixteenBytesPerRecord() {
        var queue = RecordQueue(capacity: 1000, policy: .block)
        queue.append("hello")
        queue.append("")
        #expect(queue.memoryUsed == 5 + 16 + 0 + 16)
        _ = queue.drainAll(maxRecords: 1)
        #expect(queue.memoryUsed == 16)
        _ = queue.drainAll()
        #expect(queue.memoryUsed == 0)
    }

    @Test func blockPolicyStoresPastCapacityAndReportsFull() {
        var queue = RecordQueue(capacity: 40, policy: .block)
        queue.append("0123456789")  // 26
        #expect(!queue.isFull)
        queue.append("0123456789")  // 52
        #expect(queue.isFull)
        queue.append("more")
        #expect(queue.count == 3)
        #expect(queue.totalDropped == 0 && queue.pendingMissed == 0)
        _ = queue.drainAll(maxRecords: 2)
        #expect(!queue.isFull)
    }

    @Test func dropPolicyDropsTheOldestAndReportsTheGapFirst() {
        // Each 4-byte line costs 20; capacity 60 holds three.
        var queue = RecordQueue(capacity: 60, policy: .drop)
        for index in 1...5 { queue.append("l\(index)__", at: stamp(Int64(index))) }
        #expect(queue.count == 3)
        #expect(queue.pendingMissed == 2)
        #expect(queue.totalDropped == 2)
        #expect(queue.memoryUsed <= queue.capacity)
        #expect(
            queue.drainAll() == [
                .missed(2, stamp(2)), line("l3__", at: stamp(3)), line("l4__", at: stamp(4)),
                line("l5__", at: stamp(5)),
            ])
        #expect(queue.pendingMissed == 0)
        #expect(queue.totalDropped == 2)
        #expect(queue.drainAll() == [])
    }

    @Test func missedCountsAccumulateUntilReported() {
        var queue = RecordQueue(capacity: 40, policy: .drop)
        for index in 0..<10 { queue.append("\(index)", at: stamp(Int64(index))) }
        #expect(queue.drainAll(maxRecords: 1) == [.missed(8, stamp(7))])
        queue.append("x", at: stamp(10))
        #expect(queue.drainAll() == [.missed(1, stamp(8)), line("9", at: stamp(9)), line("x", at: stamp(10))])
    }

    @Test func aLineLargerThanCapacityIsStillStoredAlone() {
        var queue = RecordQueue(capacity: 20, policy: .drop)
        queue.append("small")
        queue.append("much larger than the capacity")
        #expect(queue.drainAll() == [.missed(1, .zero), line("much larger than the capacity")])
    }

    @Test func batchesRespectRecordAndByteLimitsButAlwaysTakeOne() {
        var queue = RecordQueue(capacity: 1 << 20, policy: .block)
        for index in 0..<10 { queue.append("line\(index)") }  // 5 bytes each
        #expect(queue.drainAll(maxRecords: 3).count == 3)
        #expect(queue.drainAll(maxBytes: 12).count == 2)
        #expect(queue.drainAll(maxBytes: 1).count == 1)
        #expect(queue.drainAll(maxRecords: 0).count == 0)
        #expect(queue.drainAll(maxBytes: 0) == [line("line6")])
        #expect(queue.drainAll() == [line("line7"), line("line8"), line("line9")])
    }

    @Test func aBatchCountsTheMissedMarkerAmongItsRecords() {
        var queue = RecordQueue(capacity: 17, policy: .drop)
        queue.append("a")
        queue.append("b")
        let (added, _) = queue.takeRecords(maxRecords: 10, maxBytes: 100)
        #expect(added == 2)
    }

    @Test func embeddedNULsAreFlaggedAndKeptExactly() {
        var queue = RecordQueue(capacity: 1 << 20, policy: .block)
        queue.append("plain")
        [UInt8]([0x61, 0x00, 0x62]).withUnsafeBytes { queue.append($0, stream: .stdout, end: .newline, time: .zero) }
        queue.append("")
        queue.append("0123456789abcdef\u{0}")  // NUL found by the word-at-a-time scan's tail
        let seen = queue.takeRecords(maxRecords: 10, maxBytes: 1000).records.map(\.parameters[0])
        #expect(seen.map(\.value) == [bytesOf("plain"), [0x61, 0x00, 0x62], [], bytesOf("0123456789abcdef\u{0}")])
        // A line holding a NUL travels as rawline bytes (PM_TYPE_AGGREGATE), others as line strings.
        let ids = queue.format.parameters
        #expect(seen.map(\.pmid) == [ids.line, ids.rawline, ids.line, ids.rawline])
        #expect(seen.map(\.type) == [6, 7, 6, 7])
    }

    @Test func aCopyOfTheQueueKeepsItsOwnLines() {
        var queue = RecordQueue(capacity: 1 << 20, policy: .block)
        queue.append("shared")
        var copy = queue
        queue.append("only in the original")
        copy.append("only in the copy")
        #expect(queue.drainAll() == [line("shared"), line("only in the original")])
        #expect(copy.drainAll() == [line("shared"), line("only in the copy")])
    }

    @Test func lifetimeTotalsSurviveBatches() {
        var queue = RecordQueue(capacity: 1 << 20, policy: .block)
        queue.append("abc")
        _ = queue.drainAll()
        queue.append("de")
        queue.append("")
        #expect(queue.totalRecords == 3)
        #expect(queue.totalBytes == 5)
    }

    /// (capacity, chance of appending in percent, largest drain): a small
    /// queue that keeps emptying, and a large one whose backlog grows while
    /// its head moves, so the arena and header array are compacted mid-stream.
    @Test(arguments: [(3000, 50, 50), (1 << 22, 70, 3)])
    func interleavedAppendsAndDrainsKeepEveryLineInOrder(capacity: Int, appendPercent: Int, maxDrain: Int) {
        for policy in OverflowPolicy.allCases {
            var rng = SplitMix64(state: 7)
            var queue = RecordQueue(capacity: capacity, policy: policy)
            var model: [(text: String, end: LineEnd)] = []
            var modelHead = 0  // model[..<modelHead] was drained or dropped
            var used = 0
            var missed = 0
            var next = 0
            for _ in 0..<30000 {
                if Int.random(in: 0..<100, using: &rng) < appendPercent {
                    let text = String(repeating: "x", count: Int.random(in: 0..<40, using: &rng)) + "#\(next)"
                    // Records with and without a second parameter, so that
                    // dropping and batching walk records of every size.
                    let end = [LineEnd.newline, .newline, .continued, .endOfStream][Int.random(in: 0..<4, using: &rng)]
                    next += 1
                    queue.append(text, end: end)
                    model.append((text, end))
                    used += text.utf8.count + 16
                    if policy == .drop {
                        while model.count - modelHead > 1 && used > capacity {
                            used -= model[modelHead].text.utf8.count + 16
                            modelHead += 1
                            missed += 1
                        }
                    }
                    #expect(queue.memoryUsed == used)
                } else {
                    let limit = Int.random(in: 1...maxDrain, using: &rng)
                    let got = queue.drainAll(maxRecords: limit)
                    var want: [Drained] = []
                    if missed > 0 {
                        want.append(.missed(missed, .zero))
                        missed = 0
                    }
                    let take = min(model.count - modelHead, limit - want.count)
                    want += model[modelHead..<modelHead + take].map { line($0.text, end: $0.end) }
                    for entry in model[modelHead..<modelHead + take] { used -= entry.text.utf8.count + 16 }
                    modelHead += take
                    #expect(got == want)
                }
                #expect(queue.count == model.count - modelHead)
            }
        }
    }
}
