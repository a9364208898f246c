import Testing

@testable import PipeCore

/// Many readers, each with its own position, over one bounded buffer.
struct SharedRunOutputTests {
    let ids = EventFormat.placeholder.parameters

    func feed(_ output: inout SharedRunOutput, _ text: String, _ stream: StreamKind = .stdout, at second: Int64 = 1) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { output.ingest($0, from: stream, at: Timestamp(seconds: second, microseconds: 0)) }
    }

    /// Fetches everything from `cursor` on; returns the records and the batch.
    func fetch(_ output: inout SharedRunOutput, from cursor: UInt64, maxRecords: Int = .max, firstRead: Bool = false)
        throws -> (records: [DecodedRecord], batch: SharedBatch)
    {
        let writer = EventArrayWriter(layout: .rightToLeft)
        let batch = writer.encode {
            output.encode(
                from: cursor, into: &$0, maxRecords: maxRecords, maxBytes: .max, endReason: "exited",
                firstRead: firstRead)
        }
        guard batch.records > 0 else { return ([], batch) }
        return (try decodeEventArray(writer.finish()), batch)
    }

    func lines(_ records: [DecodedRecord]) -> [String] {
        records.compactMap { $0.value(of: ids.line) ?? $0.value(of: ids.errline) }.map(textOf)
    }

    @Test func everyReaderGetsEveryLineFromItsOwnPosition() throws {
        var output = SharedRunOutput(capacity: 1 << 20, maxLineLength: 1024)
        feed(&output, "a\nb\n")
        let first = try fetch(&output, from: 0)
        #expect(lines(first.records) == ["a", "b"] && first.batch.next == 2)
        #expect(first.records[0].flags == EventFlags.start.rawValue, "the run's first line is START")
        feed(&output, "c\n")
        let late = try fetch(&output, from: 0)
        #expect(lines(late.records) == ["a", "b", "c"], "a second reader starts from the oldest line")
        let on = try fetch(&output, from: first.batch.next)
        #expect(lines(on.records) == ["c"] && on.records[0].flags == EventFlags.point.rawValue)
        #expect(try fetch(&output, from: 3).records.isEmpty)
    }

    @Test func aSlowReaderGetsTheExactCountOfWhatItMissedAndTheCommandIsNeverBlocked() throws {
        var output = SharedRunOutput(capacity: 10 * (1 + RecordQueue.recordOverhead), maxLineLength: 64)
        for line in 0..<25 { feed(&output, "\(line % 10)\n") }
        #expect(output.oldest == 15 && output.next == 25, "the buffer keeps the newest ten lines")
        let slow = try fetch(&output, from: 3)
        #expect(slow.batch.missed == 12 && slow.records[0].missed == 12)
        #expect(slow.records[0].flags == EventFlags.missed.rawValue)
        #expect(lines(slow.records).count == 10 && slow.batch.next == 25)
        #expect(output.dropped == 12)
        _ = try fetch(&output, from: 5)
        #expect(output.dropped == 12, "a gap two readers had is counted once")
        _ = try fetch(&output, from: 0)
        #expect(output.dropped == 12, "lines before an already counted gap are not counted again")
    }

    @Test func aReaderArrivingLateIsToldWhereItStartsButLostNothing() throws {
        var output = SharedRunOutput(capacity: 10 * (1 + RecordQueue.recordOverhead), maxLineLength: 64)
        for line in 0..<25 { feed(&output, "\(line % 10)\n") }
        let late = try fetch(&output, from: 0, firstRead: true)
        #expect(late.batch.missed == 15 && late.records[0].missed == 15, "the missed record says where it starts")
        #expect(lines(late.records).count == 10)
        #expect(output.dropped == 0, "a reader that was not there lost nothing")
        let (text, _) = output.text(from: 0, maxBytes: 1 << 16, firstRead: true)
        #expect(text.hasPrefix("[the first 15 lines are no longer kept]\n"), "\(text)")
        #expect(output.dropped == 0)
        for line in 0..<25 { feed(&output, "\(line % 10)\n") }
        let behind = try fetch(&output, from: late.batch.next)
        #expect(behind.batch.missed == 15 && output.dropped == 15, "once following, a gap is a loss")
    }

    @Test func readersThatReachTheEndOfAFinishedRunGetTheEndRecord() throws {
        var output = SharedRunOutput(capacity: 1 << 20, maxLineLength: 1024)
        feed(&output, "x\nlast")
        output.finish(.exited(code: 3), at: Timestamp(seconds: 2, microseconds: 0))
        let all = try fetch(&output, from: 0)
        #expect(lines(all.records) == ["x", "last"] && all.batch.ended)
        let end = try #require(all.records.last)
        #expect(end.flags & EventFlags.end.rawValue != 0)
        #expect(end.value(of: ids.noeol) != nil, "the last line had no newline")
        #expect(end.value(of: ids.exitstatus) == [3, 0, 0, 0])
        let caughtUp = try fetch(&output, from: 2)
        #expect(
            caughtUp.records.count == 1 && caughtUp.batch.ended, "an up-to-date reader gets an end record of its own")
        let partial = try fetch(&output, from: 0, maxRecords: 1)
        #expect(!partial.batch.ended && partial.batch.next == 1)
    }

    /// A finished run keeps its records for its retain time, not the spare
    /// room its arena grew: a full buffer of short lines (seq 1 600000)
    /// held about three times its capacity until retain ran out.
    @Test func aFinishedRunKeepsItsRecordsAndReleasesTheSpareRoom() throws {
        let capacity = 1 << 20
        var output = SharedRunOutput(capacity: capacity, maxLineLength: 1024)
        for chunk in stride(from: 1, through: 200_000, by: 1000) {
            feed(&output, (chunk..<chunk + 1000).map { "\($0)\n" }.joined())
        }
        let before = output.arenaBytes
        let oldest = output.oldest
        let next = output.next
        output.finish(.exited(code: 0), at: Timestamp(seconds: 2, microseconds: 0))
        #expect(output.arenaBytes < before, "\(output.arenaBytes) of \(before)")
        #expect(output.oldest == oldest && output.next == next)
        let all = try fetch(&output, from: oldest)
        #expect(lines(all.records).first == "\(oldest + 1)" && lines(all.records).last == "200000")
        #expect(all.batch.ended)
        var empty = SharedRunOutput(capacity: capacity, maxLineLength: 1024)
        empty.finish(.exited(code: 0), at: Timestamp(seconds: 2, microseconds: 0))
        let emptyEnd = try fetch(&empty, from: 0)
        #expect(empty.arenaBytes == 0 && emptyEnd.batch.ended)
    }

    @Test func textJoinsLinesCutsAtALineAndMarksGaps() {
        var output = SharedRunOutput(capacity: 4 * (4 + RecordQueue.recordOverhead), maxLineLength: 4)
        feed(&output, "one\ntwo\n")
        feed(&output, "err\n", .stderr)
        var (text, next) = output.text(from: 0, maxBytes: 1 << 16)
        #expect(text == "one\ntwo\nerr\n" && next == 3)
        feed(&output, "toolong\nz\n")
        (text, next) = output.text(from: next, maxBytes: 6)
        #expect(text == "tool", "cut at a record: the piece of a longer line has no newline")
        (text, next) = output.text(from: 0, maxBytes: 1 << 16)
        #expect(text.hasPrefix("[2 lines missed]\n"), "\(text)")
        #expect(output.tail(2) == "ong\nz\n")
    }
}
