import PipeCore
import Testing

@testable import PipeClient

/// RecordPrinter with a time window: what --attach (from now, or from the
/// oldest line kept) and -a with -S/-T print.
@Suite struct RecordWindowTests {
    private func print(
        _ array: EventArrayBuilder, window: RecordWindow, out: ScratchFile, err: ScratchFile,
        _ check: (Summary) -> Void
    ) throws {
        var printer = RecordPrinter(
            ids: testIDs, stdout: OutputBuffer(out.descriptor),
            stderr: OutputBuffer(err.descriptor), verbose: false, window: window)
        try array.bytes.withUnsafeBytes {
            _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &printer)
        }
        try printer.out.flush()
        try printer.err.flush()
        check(
            Summary(
                lostLines: printer.lostLines, unretainedLines: printer.unretainedLines, sawEnd: printer.sawEnd,
                endedBeforeWindow: printer.endedBeforeWindow, exitStatus: printer.exitStatus,
                endReason: printer.endReason))
    }

    /// What the printer kept, copied out (#expect cannot read a noncopyable value).
    struct Summary {
        var lostLines: Int
        var unretainedLines: Int
        var sawEnd: Bool
        var endedBeforeWindow: Bool
        var exitStatus: Int32?
        var endReason: String?
    }

    private func at(_ tenths: Int32) -> (seconds: Int32, microseconds: Int32) {
        (1_700_000_000 + tenths / 10, (tenths % 10) * 100_000)
    }

    private func time(_ tenths: Int32) -> Timestamp {
        Timestamp(seconds: Int64(1_700_000_000 + tenths / 10), microseconds: (tenths % 10) * 100_000)
    }

    @Test func aWindowPlacesTimesInclusively() {
        let window = RecordWindow(notBefore: time(10), notAfter: time(20))
        #expect(window.place(time(9)) == .before)
        #expect(window.place(time(10)) == .inside)
        #expect(window.place(time(20)) == .inside)
        #expect(window.place(time(21)) == .after)
        #expect(RecordWindow().place(time(0)) == .inside)
    }

    @Test func linesBeforeTheWindowAreNotPrintedNorTheirGapsCountedAsLost() throws {
        var array = EventArrayBuilder()
        array.line("old1", flags: EventRecordLayout.startFlag, at: at(1))
        array.missed(40, at: at(3))
        array.line("old2", at: at(3))
        array.line("new1", at: at(10))
        array.record(at: at(11), [(testIDs.errline, Array("err".utf8))])
        array.line("new2", at: at(12))
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(notBefore: time(10)), out: out, err: err) { printer in
            #expect(printer.lostLines == 0)
            #expect(!printer.sawEnd)
        }
        #expect(out.text == "new1\nnew2\n")
        #expect(err.text == "err\n")
    }

    @Test func anEndBeforeTheWindowStillEndsTheStreamWithItsStatus() throws {
        var array = EventArrayBuilder()
        array.line("a", at: at(1))
        array.record(
            flags: EventRecordLayout.endFlag, at: at(2),
            [
                (testIDs.line, Array("last".utf8)), (testIDs.exitstatus, int32Bytes(3)),
                (testIDs.endreason, Array("exited".utf8)),
            ])
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(notBefore: time(10)), out: out, err: err) { printer in
            #expect(printer.sawEnd && printer.endedBeforeWindow)
            #expect(printer.exitStatus == 3)
            #expect(printer.endReason == "exited")
        }
        #expect(out.contents.isEmpty)
    }

    @Test func recordsAfterTheWindowAreIgnoredEndIncluded() throws {
        var array = EventArrayBuilder()
        array.line("in", at: at(5))
        array.missed(2, at: at(30))
        array.record(
            flags: EventRecordLayout.endFlag, at: at(31),
            [(testIDs.line, Array("late".utf8)), (testIDs.exitstatus, int32Bytes(1))])
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(notAfter: time(20)), out: out, err: err) { printer in
            #expect(!printer.sawEnd)
            #expect(printer.exitStatus == nil)
            #expect(printer.lostLines == 0)
        }
        #expect(out.text == "in\n")
    }

    @Test func aGapInsideTheWindowIsLost() throws {
        var array = EventArrayBuilder()
        array.line("a", at: at(11))
        array.missed(5, at: at(12))
        array.line("b", at: at(12))
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(notBefore: time(10)), out: out, err: err) { printer in
            #expect(printer.lostLines == 5)
        }
        #expect(out.text == "a\nb\n")
        #expect(err.text == "pmpipe: 5 lines \(RecordPrinter.lostLinesSuffix)\n")
    }

    @Test func fromTheStartALeadingGapIsLinesNoLongerKeptNotLinesLost() throws {
        var array = EventArrayBuilder()
        array.missed(100, at: at(1))
        array.line("kept1", at: at(1))
        array.missed(3, at: at(2))
        array.line("kept2", at: at(2))
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(leadingGapIsHistory: true), out: out, err: err) { printer in
            #expect(printer.unretainedLines == 100)
            #expect(printer.lostLines == 3)
        }
        #expect(out.text == "kept1\nkept2\n")
    }

    @Test func continuedPiecesAndTheLastLineWithoutNewlineAreExactInAWindow() throws {
        var array = EventArrayBuilder()
        array.record(at: at(11), [(testIDs.line, Array("ab".utf8)), (testIDs.continued, int32Bytes(1))])
        array.record(at: at(11), [(testIDs.line, Array("cd".utf8))])
        array.record(at: at(12), [(testIDs.rawline, [0x61, 0x00, 0x0D])])
        array.record(
            flags: EventRecordLayout.endFlag, at: at(13),
            [
                (testIDs.line, Array("tail".utf8)), (testIDs.noeol, int32Bytes(1)),
                (testIDs.exitstatus, int32Bytes(0)),
            ])
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, window: RecordWindow(notBefore: time(10), notAfter: time(20)), out: out, err: err) { printer in
            #expect(printer.sawEnd && !printer.endedBeforeWindow)
        }
        #expect(out.contents == Array("abcd\n".utf8) + [0x61, 0x00, 0x0D, 0x0A] + Array("tail".utf8))
    }
}
