// Line framing for a command's output pipe. The pipe hands us arbitrary
// chunks; the client must see the same lines whatever the chunking, so every
// decision here depends only on the bytes seen so far, never on where a read
// happened to end. And the client must be able to put the bytes back
// together exactly, so nothing but the "\n" that ends a line is taken out,
// and how each piece ends is said.

/// How a piece handed out by `LineSplitter` ends.
public enum LineEnd: Sendable, Hashable {
    /// At a "\n", which is not part of the piece.
    case newline
    /// The line is longer than the limit and goes on in the next piece.
    case continued
    /// At the end of the stream, without a "\n": the stream's last line.
    case endOfStream
}

/// Splits a byte stream into lines, in the manner of swift-nio-extras'
/// `LineBasedFrameDecoder`, without allocating per line.
///
/// - A line ends at `"\n"`, which is dropped. Every other byte is data: a
///   `"\r"` before the `"\n"` (CR LF), a lone `"\r"`, NUL and invalid UTF-8
///   are kept, so `line + "\n"` is exactly what the command wrote.
/// - A line longer than `maxLineLength` is handed out in pieces of exactly
///   `maxLineLength` bytes that end `.continued`, then a last piece of 1 to
///   `maxLineLength` bytes. A line of exactly `maxLineLength` bytes is one
///   piece, so a piece is only cut once a byte beyond it is known to be data
///   rather than the line's end; hence a `.continued` piece is always
///   followed by another piece of its line, even at the end of the stream.
/// - At the end of the stream (`finish`), bytes after the last "\n" are the
///   last line, ending `.endOfStream`: the output had no final newline.
///
/// Complete lines inside one read are emitted straight from the caller's
/// buffer; only the unfinished tail of a read is copied (at most
/// `maxLineLength` bytes are ever held).
public struct LineSplitter: Sendable {
    public let maxLineLength: Int

    /// The start of the current, unfinished line: no "\n", at most
    /// `maxLineLength` bytes.
    private var pending: [UInt8] = []

    public init(maxLineLength: Int) {
        precondition(maxLineLength > 0, "maxLineLength must be positive")
        self.maxLineLength = maxLineLength
    }

    /// Bytes of the current line that are held back until more input (or
    /// `finish`) decides how they end.
    public var pendingByteCount: Int { pending.count }

    /// Feeds bytes read from a pipe. Calls `emit(piece, end)` for each
    /// complete line, without its "\n" (`.newline`), and for each piece of a
    /// line longer than `maxLineLength` (`.continued` on every piece except
    /// the last). Never `.endOfStream`: that is `finish`'s. The buffer passed
    /// to `emit` is only valid during the call.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer, LineEnd) -> Void) {
        var input = bytes
        // Finish the line left over from the previous read. Topping it up to
        // at most maxLineLength + 1 bytes is enough to either reach its end
        // or cut a piece off, so `pending` stays small and every pass makes
        // progress.
        while !pending.isEmpty && !input.isEmpty {
            let room = maxLineLength + 1 - pending.count
            let newline = Self.firstNewline(in: input, from: 0, limit: min(room, input.count))
            let take = newline.map { $0 + 1 } ?? min(room, input.count)
            if pending.count + take > Self.retainedCapacity && pending.capacity < maxLineLength + 1 {
                // A long line: one buffer for all of it rather than a series
                // of doublings, each a copy, whose freed blocks the heap
                // would keep resident beside the queue.
                pending.reserveCapacity(maxLineLength + 1)
            }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
            input = UnsafeRawBufferPointer(rebasing: input[take...])
            let max = maxLineLength
            let consumed = pending.withUnsafeBytes { Self.scan($0, maxLineLength: max, emit) }
            if consumed > 0 { removePending(consumed) }
        }
        guard !input.isEmpty else { return }
        // The common case: whole lines straight from the read buffer.
        let consumed = Self.scan(input, maxLineLength: maxLineLength, emit)
        if consumed < input.count {
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[consumed...]))
        }
    }

    /// A pending buffer up to this size is kept for the next line; a bigger
    /// one (a long line was assembled in it) is given back once its line
    /// or piece is handed out, so a run does not keep up to `max_line`
    /// bytes per stream beside its queue for the rest of its life.
    static let retainedCapacity = 64 << 10

    private mutating func removePending(_ consumed: Int) {
        if pending.capacity > Self.retainedCapacity {
            pending = consumed == pending.count ? [] : Array(pending[consumed...])
        } else if consumed == pending.count {
            pending.removeAll(keepingCapacity: true)
        } else {
            pending.removeFirst(consumed)
        }
    }

    /// Bytes allocated for the unfinished line (at least
    /// `pendingByteCount`): memory the splitter holds.
    public var pendingCapacity: Int { pending.capacity }

    /// End of stream: a last line without a newline is emitted, ending
    /// `.endOfStream` (never `.continued`: it is at most `maxLineLength`
    /// bytes). No-op if nothing is pending, so an output that ends with
    /// "\n" (or is empty) has no such line.
    public mutating func finish(_ emit: (UnsafeRawBufferPointer, LineEnd) -> Void) {
        guard !pending.isEmpty else { return }
        let max = maxLineLength
        pending.withUnsafeBytes { Self.emitLine($0, maxLineLength: max, end: .endOfStream, emit) }
        pending.removeAll(keepingCapacity: false)
    }

    // MARK: - Scanning

    /// Emits every line and every piece that `buffer` (which starts at the
    /// beginning of a line) decides, and returns how many leading bytes were
    /// used. The rest contains no "\n" and is at most `maxLineLength` bytes.
    private static func scan(
        _ buffer: UnsafeRawBufferPointer,
        maxLineLength: Int,
        _ emit: (UnsafeRawBufferPointer, LineEnd) -> Void
    ) -> Int {
        let count = buffer.count
        var lineStart = 0
        while let newline = firstNewline(in: buffer, from: lineStart, limit: count) {
            emitLine(
                UnsafeRawBufferPointer(rebasing: buffer[lineStart..<newline]), maxLineLength: maxLineLength,
                end: .newline, emit)
            lineStart = newline + 1
        }
        // No line end in sight: cut pieces while a byte beyond them is held.
        while count - lineStart > maxLineLength {
            emit(UnsafeRawBufferPointer(rebasing: buffer[lineStart..<lineStart + maxLineLength]), .continued)
            lineStart += maxLineLength
        }
        return lineStart
    }

    /// Emits one whole line, cut into pieces if it is too long; the last
    /// piece ends with `end`.
    private static func emitLine(
        _ line: UnsafeRawBufferPointer,
        maxLineLength: Int,
        end: LineEnd,
        _ emit: (UnsafeRawBufferPointer, LineEnd) -> Void
    ) {
        var start = 0
        while line.count - start > maxLineLength {
            emit(UnsafeRawBufferPointer(rebasing: line[start..<start + maxLineLength]), .continued)
            start += maxLineLength
        }
        emit(UnsafeRawBufferPointer(rebasing: line[start...]), end)
    }

    private static let newline: UInt8 = 0x0A

    /// The offset of the first "\n" in `buffer[from..<limit]`.
    @inline(__always)
    static func firstNewline(in buffer: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        ByteSearch.firstIndex(of: newline, in: buffer, from: from, limit: limit)
    }
}
