import Testing

@testable import PipeCore

/// What a splitter emitted: each line or piece, and how it ended.
private struct Piece: Equatable, CustomStringConvertible {
    var bytes: [UInt8]
    var end: LineEnd

    init(_ text: String, _ end: LineEnd) { self.init(bytes: bytesOf(text), end: end) }
    init(bytes: [UInt8], end: LineEnd) {
        self.bytes = bytes
        self.end = end
    }

    var description: String {
        let mark =
            switch end {
            case .newline: ""
            case .continued: "+"
            case .endOfStream: "$"
            }
        return "\(mark)\(String(reflecting: textOf(bytes)))"
    }
}

/// The bytes a client rebuilds from the pieces: each one, then the newline
/// it was cut at, if any.
private func rebuild(_ pieces: [Piece]) -> [UInt8] {
    pieces.flatMap { $0.end == .newline ? $0.bytes + [0x0A] : $0.bytes }
}

/// Feeds `input` to a fresh splitter cut into `chunks` (sizes), then closes it.
private func split(_ input: [UInt8], maxLineLength: Int = 1024, chunks: [Int]? = nil, finish: Bool = true) -> [Piece] {
    var splitter = LineSplitter(maxLineLength: maxLineLength)
    var out: [Piece] = []
    let emit: (UnsafeRawBufferPointer, LineEnd) -> Void = { out.append(Piece(bytes: Array($0), end: $1)) }
    var start = 0
    for size in chunks ?? [input.count] where start < input.count {
        let end = min(input.count, start + size)
        input[start..<end].withUnsafeBytes { splitter.append($0, emit) }
        start = end
    }
    if start < input.count { input[start...].withUnsafeBytes { splitter.append($0, emit) } }
    if finish { splitter.finish(emit) }
    return out
}

private func oneByteChunks(_ input: [UInt8]) -> [Int] { Array(repeating: 1, count: input.count) }

private func randomChunks(_ input: [UInt8], seed: UInt64, maxChunk: Int = 9) -> [Int] {
    var rng = SplitMix64(state: seed)
    var sizes: [Int] = []
    var total = 0
    while total < input.count {
        let size = Int.random(in: 1...maxChunk, using: &rng)
        sizes.append(size)
        total += size
    }
    return sizes
}

/// The rules written as plainly as possible, on the whole input at once:
/// the oracle the streaming splitter must match for every chunking.
private func expected(_ input: [UInt8], maxLineLength: Int) -> [Piece] {
    var lines: [(bytes: [UInt8], end: LineEnd)] = []
    var current: [UInt8] = []
    for byte in input {
        if byte == 0x0A {
            lines.append((current, .newline))
            current = []
        } else {
            current.append(byte)
        }
    }
    if !current.isEmpty { lines.append((current, .endOfStream)) }
    var pieces: [Piece] = []
    for line in lines {
        var rest = line.bytes[...]
        while rest.count > maxLineLength {
            pieces.append(Piece(bytes: Array(rest.prefix(maxLineLength)), end: .continued))
            rest = rest.dropFirst(maxLineLength)
        }
        pieces.append(Piece(bytes: Array(rest), end: line.end))
    }
    return pieces
}

private func lines(_ strings: String...) -> [Piece] { strings.map { Piece($0, .newline) } }

@Suite struct LineSplitterTests {
    @Test func splitsLinesAndDropsTheirNewlines() {
        #expect(split(bytesOf("one\ntwo\nthree\n")) == lines("one", "two", "three"))
    }

    @Test func emptyLinesAreEmittedAsEmpty() {
        #expect(split(bytesOf("\n\na\n\n")) == lines("", "", "a", ""))
        // The CR of CR LF is data, like any other byte before the newline.
        #expect(split(bytesOf("\r\n\r\n")) == lines("\r", "\r"))
    }

    @Test func crlfEndsALineAndTheCRIsKept() {
        #expect(split(bytesOf("dos\r\nunix\n")) == lines("dos\r", "unix"))
    }

    @Test func crlfSplitAcrossReadsStillEndsTheLine() {
        #expect(split(bytesOf("dos\r\nnext\n"), chunks: [4, 6]) == lines("dos\r", "next"))
        #expect(split(bytesOf("\r\n"), chunks: [1, 1]) == lines("\r"))
        let input = bytesOf("a\r\nb\r\n\r\n")
        #expect(split(input, chunks: oneByteChunks(input)) == lines("a\r", "b\r", "\r"))
    }

    @Test func loneCRIsData() {
        #expect(split(bytesOf("a\rb\n\r\rc\r\n")) == lines("a\rb", "\r\rc\r"))
        #expect(split(bytesOf("a\rb\n\r\rc\r\n"), chunks: [2, 1, 1, 1, 1, 1, 2]) == lines("a\rb", "\r\rc\r"))
    }

    @Test func trailingCRAtEndOfStreamIsData() {
        #expect(split(bytesOf("tail\r")) == [Piece("tail\r", .endOfStream)])
        #expect(split(bytesOf("tail\r"), chunks: [4, 1]) == [Piece("tail\r", .endOfStream)])
        #expect(split(bytesOf("\r"), chunks: [1]) == [Piece("\r", .endOfStream)])
    }

    @Test func leftoverBytesAreEmittedAtCloseAsTheLastLine() {
        var splitter = LineSplitter(maxLineLength: 100)
        var out: [Piece] = []
        bytesOf("done\nhalf a li").withUnsafeBytes {
            splitter.append($0) { out.append(Piece(bytes: Array($0), end: $1)) }
        }
        #expect(out == lines("done"))
        #expect(splitter.pendingByteCount == 9)
        splitter.finish { out.append(Piece(bytes: Array($0), end: $1)) }
        #expect(out == lines("done") + [Piece("half a li", .endOfStream)])
        #expect(splitter.pendingByteCount == 0)
    }

    @Test func onlyAStreamThatDoesNotEndWithANewlineHasAnEndOfStreamLine() {
        #expect(split(bytesOf("a\nb")) == lines("a") + [Piece("b", .endOfStream)])
        #expect(split(bytesOf("a\n")) == lines("a"))
        // An empty last line is just the final newline.
        #expect(split(bytesOf("a\n\n")) == lines("a", ""))
        #expect(split(bytesOf("")) == [])
        let input = bytesOf("x\ny\r")
        #expect(split(input, chunks: oneByteChunks(input)) == lines("x") + [Piece("y\r", .endOfStream)])
    }

    @Test func aContinuedPieceIsAlwaysFollowedByItsLinesLastPiece() {
        // A piece is cut only when a byte beyond it is held, so the end of
        // the stream (or the newline) always finds the line's last piece to
        // mark: the client never has to guess whether a newline followed.
        for maxLineLength in 1...5 {
            for length in 1...(3 * maxLineLength + 1) {
                let text = [UInt8](repeating: 0x78, count: length)
                for (input, last) in [(text, LineEnd.endOfStream), (text + [0x0A], .newline)] {
                    for chunks in [nil, oneByteChunks(input)] {
                        let pieces = split(input, maxLineLength: maxLineLength, chunks: chunks)
                        #expect(
                            pieces.dropLast().allSatisfy { $0.end == .continued && $0.bytes.count == maxLineLength })
                        #expect(pieces.last?.end == last)
                        #expect((1...maxLineLength).contains(pieces.last?.bytes.count ?? 0))
                        #expect(rebuild(pieces) == input)
                    }
                }
            }
        }
    }

    @Test func finishWithNothingPendingEmitsNothing() {
        #expect(split(bytesOf("whole\n")) == lines("whole"))
        #expect(split([]) == [])
        var splitter = LineSplitter(maxLineLength: 8)
        var calls = 0
        splitter.finish { _, _ in calls += 1 }
        splitter.finish { _, _ in calls += 1 }
        #expect(calls == 0)
    }

    @Test func nulAndInvalidUTF8AreKept() {
        let input: [UInt8] = [0x61, 0x00, 0x62, 0x0A, 0xFF, 0xC3, 0x28, 0x00, 0x0A, 0x00]
        let want = [
            Piece(bytes: [0x61, 0x00, 0x62], end: .newline),
            Piece(bytes: [0xFF, 0xC3, 0x28, 0x00], end: .newline),
            Piece(bytes: [0x00], end: .endOfStream),
        ]
        #expect(split(input) == want)
        #expect(split(input, chunks: oneByteChunks(input)) == want)
    }

    @Test func aLineOfExactlyMaxLengthIsNotCut() {
        #expect(split(bytesOf("abcd\nefg\r\n"), maxLineLength: 4) == lines("abcd", "efg\r"))
        #expect(split(bytesOf("abcd\nefg\r\n"), maxLineLength: 4, chunks: [4, 1, 3, 1, 1]) == lines("abcd", "efg\r"))
        #expect(split(bytesOf("abcd"), maxLineLength: 4, chunks: [4]) == [Piece("abcd", .endOfStream)])
        // With its CR, "efgh\r" is five bytes: one piece too many.
        #expect(split(bytesOf("efgh\r\n"), maxLineLength: 4) == [Piece("efgh", .continued), Piece("\r", .newline)])
    }

    @Test func longLinesAreCutIntoContinuedPieces() {
        let want = [
            Piece("abcd", .continued),
            Piece("efgh", .continued),
            Piece("i", .newline),
            Piece("abcd", .continued),
            Piece("efgh", .newline),
        ]
        let input = bytesOf("abcdefghi\nabcdefgh\n")
        #expect(split(input, maxLineLength: 4) == want)
        #expect(split(input, maxLineLength: 4, chunks: oneByteChunks(input)) == want)
    }

    @Test func longLinePiecesAreEmittedBeforeTheLineEnds() {
        // A firehose must not sit on a megabyte with no newline: pieces go out
        // as soon as they are decided.
        var splitter = LineSplitter(maxLineLength: 4)
        var out: [Piece] = []
        bytesOf("abcdefghij").withUnsafeBytes { splitter.append($0) { out.append(Piece(bytes: Array($0), end: $1)) } }
        #expect(out == [Piece("abcd", .continued), Piece("efgh", .continued)])
        #expect(splitter.pendingByteCount == 2)
    }

    @Test func aCRIsDataWhereverTheReadEnds() {
        // "abc\r" then "\n": one line "abc\r", emitted when its "\n" comes.
        var splitter = LineSplitter(maxLineLength: 4)
        var out: [Piece] = []
        let emit: (UnsafeRawBufferPointer, LineEnd) -> Void = { out.append(Piece(bytes: Array($0), end: $1)) }
        bytesOf("abc\r").withUnsafeBytes { splitter.append($0, emit) }
        #expect(out == [])
        bytesOf("\n").withUnsafeBytes { splitter.append($0, emit) }
        #expect(out == lines("abc\r"))
        // A CR may end a piece like any other byte.
        out = []
        bytesOf("abc\r").withUnsafeBytes { splitter.append($0, emit) }
        bytesOf("d").withUnsafeBytes { splitter.append($0, emit) }
        splitter.finish(emit)
        #expect(out == [Piece("abc\r", .continued), Piece("d", .endOfStream)])

        #expect(split(bytesOf("abcd\r"), maxLineLength: 4, chunks: [5], finish: false) == [Piece("abcd", .continued)])
        #expect(
            split(bytesOf("abcd\r\n"), maxLineLength: 4, chunks: [5, 1]) == [
                Piece("abcd", .continued), Piece("\r", .newline),
            ])
        #expect(
            split(bytesOf("abcde\r\n"), maxLineLength: 4, chunks: [6, 1]) == [
                Piece("abcd", .continued), Piece("e\r", .newline),
            ])
    }

    @Test func heldBytesStayBounded() {
        var splitter = LineSplitter(maxLineLength: 16)
        let chunk = [UInt8](repeating: 0x78, count: 1000) + [0x0D]
        for _ in 0..<50 {
            chunk.withUnsafeBytes { splitter.append($0) { _, _ in } }
            #expect(splitter.pendingByteCount <= 16)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 7, 16, 1024])
    func everyChunkingGivesIdenticalOutput(maxLineLength: Int) {
        // Inputs rich in the hard cases: CR at every position relative to LF
        // and to the length limit, NULs, empty lines, a missing final newline.
        let samples: [[UInt8]] = [
            bytesOf("one\ntwo\r\nthree\r\r\n\n\r\nfour\rfive\n"),
            bytesOf("abcdefghijklmnopqrstuvwxyz\r\nABCDEFG\rHIJKLMNOP\n\n\r"),
            [0x00, 0x0D, 0x00, 0x0A, 0x0D, 0x0D, 0x0A, 0xFF, 0xFE, 0x0D],
            Array(repeating: 0x0D, count: 40) + [0x0A] + Array(repeating: 0x0A, count: 5),
            bytesOf("no newline at all, and rather long for small limits"),
        ]
        var rng = SplitMix64(state: 42)
        var generated: [UInt8] = []
        let alphabet: [UInt8] = [0x0A, 0x0D, 0x00, 0x61, 0x62, 0x63, 0xE2]
        for _ in 0..<3000 { generated.append(alphabet.randomElement(using: &rng)!) }

        for input in samples + [generated] {
            let want = expected(input, maxLineLength: maxLineLength)
            #expect(rebuild(want) == input, "the pieces give back every byte")
            #expect(split(input, maxLineLength: maxLineLength) == want)
            #expect(split(input, maxLineLength: maxLineLength, chunks: oneByteChunks(input)) == want)
            for seed in UInt64(1)...20 {
                let chunks = randomChunks(input, seed: seed, maxChunk: seed % 2 == 0 ? 5 : 300)
                #expect(split(input, maxLineLength: maxLineLength, chunks: chunks) == want, "seed \(seed)")
            }
        }
    }

    @Test func aLongLinesBufferIsGivenBackOnceItsPieceIsOut() {
        // 200 KiB of one line with max_line 150 KiB, read 64 KiB at a time:
        // the first piece is assembled in the pending buffer, which must not
        // stay allocated (at up to max_line) after the piece is handed out.
        var splitter = LineSplitter(maxLineLength: 150 << 10)
        var pieces: [Piece] = []
        let read = [UInt8](repeating: 0x62, count: 64 << 10)
        for _ in 0..<3 {
            read.withUnsafeBytes { splitter.append($0) { pieces.append(Piece(bytes: Array($0), end: $1)) } }
        }
        #expect(pieces.map(\.bytes.count) == [150 << 10])
        #expect(pieces.map(\.end) == [.continued])
        #expect(splitter.pendingByteCount == (192 - 150) << 10)
        #expect(splitter.pendingCapacity <= LineSplitter.retainedCapacity)
        // A short line keeps its small buffer for the next one.
        var short = LineSplitter(maxLineLength: 150 << 10)
        bytesOf("abc").withUnsafeBytes { short.append($0) { _, _ in } }
        let capacity = short.pendingCapacity
        bytesOf("\ndef").withUnsafeBytes { short.append($0) { _, _ in } }
        #expect(short.pendingCapacity == capacity)
    }

    @Test(arguments: [70_000, 131_073, 300_000] as [Int])
    func linesAroundTheReleasedBufferComeOutExactly(maxLineLength: Int) {
        // An attacker's output aimed at the buffer release: lines just under,
        // at and just over the retained size (64 KiB), at and around
        // max_line, empty lines between them, read in chunks of every size a
        // pipe gives (up to the agent's 64 KiB and beyond). Every piece must
        // match a plain splitter, and the pending buffer never holds more
        // than one max_line (plus the doublings below the retained size).
        var rng = SplitMix64(state: UInt64(maxLineLength))
        let retained = LineSplitter.retainedCapacity
        let lengths = [
            0, 1, retained - 1, retained, retained + 1, retained + 2, maxLineLength - 1, maxLineLength,
            maxLineLength + 1, 2 * maxLineLength + 1, 3 * maxLineLength - 1,
        ]
        var input: [UInt8] = []
        for index in 0..<40 {
            let length = lengths.randomElement(using: &rng)!
            let byte = UInt8(0x41 + index % 26)
            input += [UInt8](repeating: byte, count: length)
            input += [0x0D, 0x0A].prefix(Int.random(in: 0...2, using: &rng)).filter { $0 == 0x0A || length > 0 }
            if Bool.random(using: &rng) { input.append(0x0A) }
        }
        let want = expected(input, maxLineLength: maxLineLength)
        for seed in UInt64(1)...4 {
            let chunks = randomChunks(input, seed: seed, maxChunk: seed % 3 == 0 ? 4096 : 70_000 + Int(seed) * 1000)
            var splitter = LineSplitter(maxLineLength: maxLineLength)
            var out: [Piece] = []
            var largest = 0
            var start = 0
            for size in chunks {
                let end = min(input.count, start + size)
                input[start..<end].withUnsafeBytes {
                    splitter.append($0) { out.append(Piece(bytes: Array($0), end: $1)) }
                }
                start = end
                largest = max(largest, splitter.pendingCapacity)
                if splitter.pendingByteCount == 0 { #expect(splitter.pendingCapacity <= retained) }
            }
            splitter.finish { out.append(Piece(bytes: Array($0), end: $1)) }
            #expect(out == want, "seed \(seed)")
            #expect(rebuild(out) == input, "seed \(seed)")
            #expect(largest <= max(maxLineLength + 1, 2 * retained) + 64, "seed \(seed): \(largest)")
        }
    }

    @Test func aNewlineIsFoundAtEveryPositionInAWord() {
        // The newline search reads eight bytes at a time; put the newline at
        // every offset around those words.
        for length in 1..<40 {
            for position in 0..<length {
                var input = [UInt8](repeating: 0x0B, count: length)
                input[position] = 0x0A
                let want = expected(input, maxLineLength: 1024)
                #expect(split(input) == want, "newline at \(position) of \(length)")
            }
        }
    }
}
