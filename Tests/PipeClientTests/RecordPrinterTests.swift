import Testing
@testable import PipeClient
import PipeCore

/// Decodes `array` into a printer whose stdout and stderr go to `out` and
/// `err` (the same file shows the order of the two streams).
private func print(_ array: EventArrayBuilder, out: ScratchFile, err: ScratchFile? = nil,
                   _ check: (borrowing RecordPrinter) -> Void = { _ in }) throws {
    var printer = RecordPrinter(ids: testIDs, stdout: OutputBuffer(fd: out.fd),
                                stderr: OutputBuffer(fd: (err ?? out).fd), verbose: false)
    try array.bytes.withUnsafeBytes {
        _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &printer)
    }
    try printer.out.flush()
    try printer.err.flush()
    check(printer)
}

@Suite struct RecordPrinterTests {
    @Test func plainLinesAndRawLinesArePrintedByteForByte() throws {
        var array = EventArrayBuilder()
        array.line("1", flags: 2)
        array.line("")
        array.record([(testIDs.rawline, [0x61, 0x00, 0x62])])
        array.line("twelve bytes")
        array.line(String(repeating: "x", count: 100))
        let file = ScratchFile()
        try print(array, out: file)
        #expect(file.contents == Array("1\n\n".utf8) + [0x61, 0x00, 0x62, 0x0A]
                + Array("twelve bytes\n\(String(repeating: "x", count: 100))\n".utf8))
    }

    @Test func stdoutAndStderrLinesKeepTheirOrder() throws {
        var array = EventArrayBuilder()
        array.line("out1")
        array.record([(testIDs.errline, Array("err1".utf8))])
        array.record([(testIDs.errline, Array("err2".utf8))])
        array.line("out2")
        array.record([(testIDs.rawerrline, Array("err3".utf8))])
        array.line("out3")
        let file = ScratchFile()
        try print(array, out: file)
        #expect(file.text == "out1\nerr1\nerr2\nout2\nerr3\nout3\n")
    }

    @Test func stderrLinesGoToStderrOnly() throws {
        var array = EventArrayBuilder()
        array.line("out")
        array.record([(testIDs.errline, Array("err".utf8))])
        let out = ScratchFile(), err = ScratchFile()
        try print(array, out: out, err: err)
        #expect(out.text == "out\n")
        #expect(err.text == "err\n")
    }

    @Test func continuedPiecesAreJoinedIntoOneLine() throws {
        var array = EventArrayBuilder()
        array.record([(testIDs.line, Array("ab".utf8)), (testIDs.continued, int32Bytes(1))])
        array.record([(testIDs.line, Array("cd".utf8)), (testIDs.continued, int32Bytes(1))])
        array.line("ef")
        array.line("next")
        let file = ScratchFile()
        try print(array, out: file)
        #expect(file.text == "abcdef\nnext\n")
    }

    @Test func theEndRecordIsPrintedAndItsStatusAndReasonKept() throws {
        var array = EventArrayBuilder()
        array.line("last")
        array.record(flags: EventRecordLayout.endFlag, [(testIDs.line, Array("final".utf8))])
        array.record(flags: EventRecordLayout.endFlag, [(testIDs.exitstatus, int32Bytes(3)),
                                                  (testIDs.endreason, Array("exited".utf8))])
        let file = ScratchFile()
        // #expect cannot look into a noncopyable value: copy out first.
        var end: (saw: Bool, status: Int32?, reason: String?) = (false, nil, nil)
        try print(array, out: file) { end = ($0.sawEnd, $0.exitStatus, $0.endReason) }
        #expect(end.saw)
        #expect(end.status == 3)
        #expect(end.reason == "exited")
        #expect(file.text == "last\nfinal\n")
    }

    @Test func aLineWithoutTheEndFlagDoesNotEndTheRun() throws {
        var array = EventArrayBuilder()
        array.line("one", flags: 1)
        let file = ScratchFile()
        var sawEnd = true
        try print(array, out: file) { sawEnd = $0.sawEnd }
        #expect(!sawEnd)
    }

    @Test func missedRecordsAreCountedAndReportedAtTheirPlace() throws {
        var array = EventArrayBuilder()
        array.line("before")
        array.missed(7)
        array.line("after")
        let file = ScratchFile()
        var lost = 0
        try print(array, out: file) { lost = $0.lostLines }
        #expect(lost == 7)
        #expect(file.text == "before\npmpipe: 7 lines \(RecordPrinter.lostLinesSuffix)\nafter\n")
    }

    @Test func aMalformedArrayPrintsNothingAtAll() throws {
        var array = EventArrayBuilder()
        array.line("good")
        array.line("good too")
        array.raw(int32Bytes(0) + int32Bytes(0) + int32Bytes(0) + int32Bytes(5))   // claims 5 parameters
        let file = ScratchFile()
        var bytes = array.bytes
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: Int32(3), toByteOffset: 4, as: Int32.self) }
        var printer = RecordPrinter(ids: testIDs, stdout: OutputBuffer(fd: file.fd),
                                    stderr: OutputBuffer(fd: file.fd), verbose: false)
        #expect(throws: EventArrayError.self) {
            try bytes.withUnsafeBytes { _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &printer) }
        }
        try printer.out.flush()
        #expect(file.contents.isEmpty)
    }
}
