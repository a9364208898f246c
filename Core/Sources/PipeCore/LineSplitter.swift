// Line framing for a command's output pipe. The pipe hands us arbitrary
// chunks; the client must see the same lines whatever the chunking, so every
// decision here depends only on the bytes seen so far, never on where a read
// happened to end.

/// Splits a byte stream into lines, in the manner of swift-nio-extras'
/// `LineBasedFrameDecoder`, without allocating per line.
///
/// - A line ends at `"\n"`; a `"\r"` directly before the `"\n"` is dropped as
///   well, even when the two arrive in different reads.
/// - Every other byte is data: NUL, invalid UTF-8 and a lone `"\r"` are kept.
/// - A line longer than `maxLineLength` is handed out in pieces of exactly
///   `maxLineLength` bytes marked `continued`, then a last piece of 1 to
///   `maxLineLength` bytes that is not. A line of exactly `maxLineLength`
///   bytes is one unmarked line, so a piece is only cut once a byte beyond it
///   is known to be data rather than the line's end.
///
/// Complete lines inside one read are emitted straight from the caller's
/// buffer; only the unfinished tail of a read is copied (at most
/// `maxLineLength + 1` bytes are ever held).
public struct LineSplitter: Sendable {
    public let maxLineLength: Int

    /// The start of the current, unfinished line. It never contains a "\n".
    /// If it ends with a "\r", that byte's fate (data, or part of CR LF) is
    /// still unknown.
    private var pending: [UInt8] = []

    public init(maxLineLength: Int) {
        precondition(maxLineLength > 0, "maxLineLength must be positive")
        self.maxLineLength = maxLineLength
    }

    /// Bytes of the current line that are held back until more input (or
    /// `finish`) decides how they end.
    public var pendingByteCount: Int { pending.count }

    /// Feeds bytes read from a pipe. Calls `emit(line, continued)` for each
    /// complete line, without its "\n" (and without a "\r" directly before the
    /// "\n"), and for each piece of a line longer than `maxLineLength`
    /// (`continued == true` on every piece except the last). The buffer passed
    /// to `emit` is only valid during the call.
    public mutating func append(
        _ bytes: UnsafeRawBufferPointer,
        _ emit: (UnsafeRawBufferPointer, _ continued: Bool) -> Void
    ) {
        var input = bytes
        // Finish the line left over from the previous read. Topping it up by
        // at most maxLineLength + 2 bytes at a time is enough to either reach
        // its end or cut a piece off, so `pending` stays small and every pass
        // makes progress.
        while !pending.isEmpty && !input.isEmpty {
            let room = maxLineLength + 2 - pending.count
            let newline = Self.firstNewline(in: input, from: 0, limit: min(room, input.count))
            let take = newline.map { $0 + 1 } ?? min(room, input.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
            input = UnsafeRawBufferPointer(rebasing: input[take...])
            let max = maxLineLength
            let consumed = pending.withUnsafeBytes { Self.scan($0, maxLineLength: max, emit) }
            if consumed == pending.count {
                pending.removeAll(keepingCapacity: true)
            } else if consumed > 0 {
                pending.removeFirst(consumed)
            }
        }
        guard !input.isEmpty else { return }
        // The common case: whole lines straight from the read buffer.
        let consumed = Self.scan(input, maxLineLength: maxLineLength, emit)
        if consumed < input.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[consumed...]))
        }
    }

    /// End of stream: a last line without a newline is emitted (continued
    /// false); a "\r" at its end is data, since no "\n" will follow. No-op if
    /// nothing is pending.
    public mutating func finish(_ emit: (UnsafeRawBufferPointer, _ continued: Bool) -> Void) {
        guard !pending.isEmpty else { return }
        let max = maxLineLength
        pending.withUnsafeBytes { Self.emitLine($0, maxLineLength: max, emit) }
        pending.removeAll(keepingCapacity: false)
    }

    // MARK: - Scanning

    /// Emits every line and every piece that `buffer` (which starts at the
    /// beginning of a line) decides, and returns how many leading bytes were
    /// used. The rest contains no "\n" and is at most `maxLineLength` bytes of
    /// data plus perhaps one undecided "\r".
    private static func scan(
        _ buffer: UnsafeRawBufferPointer,
        maxLineLength: Int,
        _ emit: (UnsafeRawBufferPointer, _ continued: Bool) -> Void
    ) -> Int {
        let count = buffer.count
        var lineStart = 0
        while let newline = firstNewline(in: buffer, from: lineStart, limit: count) {
            var end = newline
            if end > lineStart && buffer[end - 1] == carriageReturn { end -= 1 }
            emitLine(UnsafeRawBufferPointer(rebasing: buffer[lineStart..<end]), maxLineLength: maxLineLength, emit)
            lineStart = newline + 1
        }
        // No line end in sight: cut pieces only from bytes known to be data.
        // A trailing "\r" might be half of CR LF, so it is not yet data.
        var knownData = count
        if knownData > lineStart && buffer[knownData - 1] == carriageReturn { knownData -= 1 }
        while knownData - lineStart > maxLineLength {
            emit(UnsafeRawBufferPointer(rebasing: buffer[lineStart..<lineStart + maxLineLength]), true)
            lineStart += maxLineLength
        }
        return lineStart
    }

    /// Emits one whole line, cut into pieces if it is too long.
    private static func emitLine(
        _ line: UnsafeRawBufferPointer,
        maxLineLength: Int,
        _ emit: (UnsafeRawBufferPointer, _ continued: Bool) -> Void
    ) {
        var start = 0
        while line.count - start > maxLineLength {
            emit(UnsafeRawBufferPointer(rebasing: line[start..<start + maxLineLength]), true)
            start += maxLineLength
        }
        emit(UnsafeRawBufferPointer(rebasing: line[start...]), false)
    }

    private static let newline: UInt8 = 0x0A
    private static let carriageReturn: UInt8 = 0x0D

    /// The offset of the first "\n" in `buffer[from..<limit]`.
    @inline(__always)
    static func firstNewline(in buffer: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        ByteSearch.firstIndex(of: newline, in: buffer, from: from, limit: limit)
    }
}
