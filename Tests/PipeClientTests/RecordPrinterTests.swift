import PipeCore
import Testing

@testable import PipeClient

/// Decodes `array` into a printer whose stdout and stderr go to `out` and
/// `err` (the same file shows the order of the two streams).
private func print(
    _ array: EventArrayBuilder, out: ScratchFile, err: ScratchFile? = nil,
    _ check: (borrowing RecordPrinter) -> Void = { _ in }
) throws {
    var printer = RecordPrinter(
        ids: testIDs, stdout: OutputBuffer(out.descriptor),
        stderr: OutputBuffer((err ?? out).descriptor), verbose: false)
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
        #expect(
            file.contents == Array("1\n\n".utf8) + [0x61, 0x00, 0x62, 0x0A]
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
        let out = ScratchFile()
        let err = ScratchFile()
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
        array.record(
            flags: EventRecordLayout.endFlag,
            [
                (testIDs.exitstatus, int32Bytes(3)),
                (testIDs.endreason, Array("exited".utf8)),
            ])
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
        array.raw(int32Bytes(0) + int32Bytes(0) + int32Bytes(0) + int32Bytes(5))  // claims 5 parameters
        let file = ScratchFile()
        var bytes = array.bytes
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: Int32(3), toByteOffset: 4, as: Int32.self) }
        var printer = RecordPrinter(
            ids: testIDs, stdout: OutputBuffer(file.descriptor),
            stderr: OutputBuffer(file.descriptor), verbose: false)
        #expect(throws: EventArrayError.self) {
            try bytes.withUnsafeBytes { _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &printer) }
        }
        try printer.out.flush()
        #expect(file.contents.isEmpty)
    }
}

@Suite struct RecordPrinterExactnessTests {
    @Test func aLineMarkedNoeolGetsNoNewline() throws {
        var array = EventArrayBuilder()
        array.line("first")
        array.record([(testIDs.line, Array("last".utf8)), (testIDs.noeol, int32Bytes(1))])
        array.record([(testIDs.errline, Array("warning".utf8)), (testIDs.noeol, int32Bytes(1))])
        let out = ScratchFile()
        let err = ScratchFile()
        try print(array, out: out, err: err)
        #expect(out.text == "first\nlast")
        #expect(err.text == "warning")
    }

    @Test func crAndOtherBytesBeforeTheNewlineArePrintedAsTheyCame() throws {
        var array = EventArrayBuilder()
        array.line("dos\r")
        array.line("\r")
        array.line("a\rb")
        array.record([(testIDs.rawline, [0x00, 0x0D, 0xFF])])
        array.record([(testIDs.line, Array("tail\r".utf8)), (testIDs.noeol, int32Bytes(1))])
        let file = ScratchFile()
        try print(array, out: file)
        #expect(file.contents == Array("dos\r\n\r\na\rb\n".utf8) + [0x00, 0x0D, 0xFF, 0x0A] + Array("tail\r".utf8))
    }

    @Test func theEndRecordCanBeALastLineWithoutNewline() throws {
        var array = EventArrayBuilder()
        array.line("one")
        array.record(
            flags: EventRecordLayout.endFlag,
            [
                (testIDs.line, Array("two".utf8)), (testIDs.noeol, int32Bytes(1)),
                (testIDs.exitstatus, int32Bytes(0)), (testIDs.endreason, Array("exited".utf8)),
            ])
        let file = ScratchFile()
        var end: (saw: Bool, status: Int32?) = (false, nil)
        try print(array, out: file) { end = ($0.sawEnd, $0.exitStatus) }
        #expect(file.text == "one\ntwo")
        #expect(end.saw && end.status == 0)
    }

    @Test func anAgentWithoutNoeolGetsANewlineAfterEveryLine() throws {
        // PCP's C agent (--prefix cpipe) has no pipe.noeol: its ID is absent.
        var ids = testIDs
        ids.noeol = PipeConnection.absent
        var array = EventArrayBuilder()
        array.line("a")
        array.record([(testIDs.line, Array("b".utf8)), (testIDs.noeol, int32Bytes(1))])
        let file = ScratchFile()
        var printer = RecordPrinter(
            ids: ids, stdout: OutputBuffer(file.descriptor), stderr: OutputBuffer(file.descriptor),
            verbose: false)
        try array.bytes.withUnsafeBytes { _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &printer) }
        try printer.out.flush()
        #expect(file.text == "a\nb\n")
    }

    /// The whole output path: bytes as a command writes them, through the
    /// agent's RunOutput and encoder, the decoder and the printer, to files
    /// that must equal what was written, byte for byte, for each stream.
    @Test(arguments: [5, 64, 4096])
    func pmpipePrintsExactlyWhatTheCommandWrote(maxLineLength: Int) throws {
        let alphabet: [UInt8] = [0x0A, 0x0A, 0x0D, 0x00, 0x20, 0x78, 0xFF, 0xE2, 0x80]
        let endings: [[UInt8]] = [[], [0x0A], [0x0D], [0x0D, 0x0A], [0x0A, 0x0A], [0x00]]
        let format = EventFormat.placeholder
        let writer = EventArrayWriter(layout: format.layout, initialCapacity: 64)
        var rng = SystemRandomNumberGenerator()
        for round in 0..<36 {
            var inputs: [StreamKind: [UInt8]] = [:]
            for stream in [StreamKind.stdout, .stderr] {
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 0...400, using: &rng) { bytes.append(alphabet.randomElement(using: &rng)!) }
                if round % 4 == 0 { bytes += [UInt8](repeating: 0x79, count: 2 * maxLineLength) }
                inputs[stream] = bytes + endings[round % endings.count]
            }
            let out = ScratchFile()
            let err = ScratchFile()
            var printer = RecordPrinter(
                ids: format.parameters, stdout: OutputBuffer(out.descriptor, capacity: 64),
                stderr: OutputBuffer(err.descriptor, capacity: 64), verbose: false)
            var run = RunOutput(queueCapacity: 1 << 20, policy: .block, maxLineLength: maxLineLength, format: format)
            func fetch() throws {
                writer.reset()
                writer.encode {
                    _ = run.encodeBatch(
                        into: &$0, maxRecords: Int.random(in: 1...20, using: &rng),
                        maxBytes: Int.random(in: 0...200, using: &rng), endReason: "exited")
                }
                try EventArrayDecoder.decode(writer.finish(), layout: format.layout, into: &printer)
                try printer.out.flush()
                try printer.err.flush()
            }
            var offsets: [StreamKind: Int] = [.stdout: 0, .stderr: 0]
            while let stream = [StreamKind.stdout, .stderr].filter({ offsets[$0]! < inputs[$0]!.count })
                .randomElement(using: &rng)
            {
                let start = offsets[stream]!
                let end = min(inputs[stream]!.count, start + (round % 3 == 0 ? 1 : Int.random(in: 1...50, using: &rng)))
                inputs[stream]![start..<end].withUnsafeBytes { run.ingest($0, from: stream, at: .zero) }
                offsets[stream] = end
                if Bool.random(using: &rng) { try fetch() }
            }
            run.finish(.exited(code: 0), at: .zero)
            while run.phase != .delivered { try fetch() }
            #expect(out.contents == inputs[.stdout], "stdout of round \(round)")
            #expect(err.contents == inputs[.stderr], "stderr of round \(round)")
            let sawEnd = printer.sawEnd
            #expect(sawEnd)
        }
    }
}
