// The per-client backlog of output lines. A fast command can produce a
// million lines a second, so the queue keeps its bytes in one contiguous
// arena and its records in a flat array of fixed-size headers: in steady
// state an append or a drain allocates nothing.

/// One item handed out by `RecordQueue.drain`.
public enum QueueItem {
    /// `count` lines were dropped (under `.drop`) before the items that
    /// follow. `time` is when the newest of them was read, so records stay in
    /// time order.
    case missed(count: Int, time: Timestamp)
    /// `bytes` is valid only during the visit and is immediately followed in
    /// memory by a 0 byte (so it can be passed to C as a NUL-terminated string
    /// without copying); `containsNUL` tells whether the payload itself has a
    /// 0 byte (then C string APIs would truncate it).
    case line(bytes: UnsafeRawBufferPointer, stream: StreamKind, continued: Bool, time: Timestamp, containsNUL: Bool)
}

/// A bounded FIFO of output lines for one client.
///
/// Its size is measured in `memoryUsed`: payload bytes plus
/// `RecordQueue.recordOverhead` per record, so a flood of empty lines is
/// bounded too. What happens at the bound is the `policy`:
/// - `.block`: every line is stored; the caller stops reading the command's
///   pipes while `isFull`, so the queue exceeds `capacity` by at most what was
///   already read.
/// - `.drop`: the oldest lines make room for the new one and are counted, and
///   the next drain starts with a `.missed` item saying how many, which is
///   exactly where the gap is (drops always remove the head).
public struct RecordQueue: Sendable {
    /// The fixed cost charged per record in `memoryUsed`, standing for its
    /// header and terminator.
    public static let recordOverhead = 16

    public let capacity: Int
    public let policy: OverflowPolicy

    /// Lines dropped under `.drop` and not yet reported by a drain.
    public private(set) var pendingMissed: Int = 0
    private var missedTime = Timestamp.zero

    /// Lifetime totals (reported as metrics): lines queued, their payload
    /// bytes, lines dropped.
    public private(set) var totalRecords: UInt64 = 0
    public private(set) var totalBytes: UInt64 = 0
    public private(set) var totalDropped: UInt64 = 0

    public private(set) var memoryUsed: Int = 0

    // MARK: - Storage

    /// A record's place in the arena and what the client needs to know about it.
    private struct Header {
        /// Position in the arena, counted from the arena's creation: it stays
        /// valid when the arena's consumed front is cut off.
        var offset: Int
        var length: Int32
        var stream: StreamKind
        var flags: UInt8
        var time: Timestamp

        static let continued: UInt8 = 1 << 0
        static let containsNUL: UInt8 = 1 << 1
    }

    /// Payloads, each followed by a 0 byte. `arena[0]` is at position
    /// `arenaDiscarded`; bytes before `arenaHead` belong to removed records.
    private var arena: [UInt8] = []
    private var arenaDiscarded = 0
    private var arenaHead = 0
    /// Record headers; those before `headerHead` are removed.
    private var headers: [Header] = []
    private var headerHead = 0

    /// Buffers bigger than this are given back when the queue empties, so an
    /// idle client does not keep its burst-sized arena.
    private static let retainedCapacity = 64 * 1024

    public init(capacity: Int, policy: OverflowPolicy) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
        self.policy = policy
    }

    /// Records queued (not counting a pending `.missed` marker).
    public var count: Int { headers.count - headerHead }

    /// True when `memoryUsed` has reached `capacity`.
    public var isFull: Bool { memoryUsed >= capacity }

    // MARK: - Appending

    /// Appends one line (or line piece). Under `.drop`, first drops the oldest
    /// records until the new one fits, counting them in `pendingMissed` and
    /// `totalDropped`. Under `.block` it always stores.
    public mutating func append(_ line: UnsafeRawBufferPointer, stream: StreamKind, continued: Bool, time: Timestamp) {
        precondition(line.count <= Int(Int32.max), "a line piece longer than 2 GiB")
        let cost = line.count + Self.recordOverhead
        if policy == .drop {
            while count > 0 && memoryUsed + cost > capacity {
                dropOldest()
            }
        }
        var flags: UInt8 = continued ? Header.continued : 0
        if Self.containsZero(line) { flags |= Header.containsNUL }
        headers.append(Header(
            offset: arenaDiscarded + arena.count, length: Int32(line.count),
            stream: stream, flags: flags, time: time))
        arena.append(contentsOf: line)
        arena.append(0)
        memoryUsed += cost
        totalRecords &+= 1
        totalBytes &+= UInt64(line.count)
    }

    private mutating func dropOldest() {
        let header = headers[headerHead]
        pendingMissed += 1
        totalDropped &+= 1
        missedTime = header.time
        removeHead(count: 1, endingAt: header.offset + Int(header.length) + 1)
    }

    // MARK: - Draining

    /// Removes up to `maxRecords` records / about `maxBytes` payload bytes
    /// (always at least one record if any) in FIFO order and visits them. If
    /// lines were dropped since the last drain, the first visited item is
    /// `.missed(count:time:)`. Returns the number of items visited.
    @discardableResult
    public mutating func drain(maxRecords: Int, maxBytes: Int, _ visit: (QueueItem) -> Void) -> Int {
        drain(maxRecords: maxRecords, maxBytes: maxBytes) { item, _ in visit(item) }
    }

    /// `drain` that also tells the visitor whether an item is the last thing
    /// in the queue, so `RunOutput` can mark the end of a run on the final
    /// line instead of adding an empty record.
    @discardableResult
    mutating func drain(maxRecords: Int, maxBytes: Int, _ visit: (QueueItem, _ emptiesQueue: Bool) -> Void) -> Int {
        guard maxRecords > 0 else { return 0 }
        var visited = 0
        if pendingMissed > 0 {
            let missed = pendingMissed
            pendingMissed = 0
            visited = 1
            visit(.missed(count: missed, time: missedTime), count == 0)
        }
        guard count > 0 && visited < maxRecords else { return visited }

        // Choose the batch first: payload pointers are only valid inside one
        // withUnsafeBytes, and the visitor must know which item is last.
        var end = headerHead
        var bytes = 0
        while end < headers.count && visited + (end - headerHead) < maxRecords {
            let length = Int(headers[end].length)
            if end > headerHead && bytes + length > maxBytes { break }
            bytes += length
            end += 1
        }
        let start = headerHead
        let emptiesQueue = end == headers.count
        let discarded = arenaDiscarded
        headers.withUnsafeBufferPointer { headers in
            arena.withUnsafeBytes { arena in
                for index in start..<end {
                    let header = headers[index]
                    let from = header.offset - discarded
                    let bytes = UnsafeRawBufferPointer(rebasing: arena[from..<from + Int(header.length)])
                    visit(.line(
                        bytes: bytes, stream: header.stream,
                        continued: header.flags & Header.continued != 0,
                        time: header.time,
                        containsNUL: header.flags & Header.containsNUL != 0),
                        emptiesQueue && index == end - 1)
                }
            }
        }
        let last = headers[end - 1]
        removeHead(count: end - start, endingAt: last.offset + Int(last.length) + 1)
        return visited + (end - start)
    }

    /// Forgets the first `count` records, whose bytes end at arena position
    /// `arenaEnd`, and reclaims space once that is cheap enough to be
    /// amortized O(1): cutting off a consumed front only when it is at least
    /// half of the buffer.
    private mutating func removeHead(count removed: Int, endingAt arenaEnd: Int) {
        for index in headerHead..<headerHead + removed {
            memoryUsed -= Int(headers[index].length) + Self.recordOverhead
        }
        headerHead += removed
        arenaHead = arenaEnd - arenaDiscarded
        if headerHead == headers.count {
            // Empty: rewind instead of moving anything.
            headers.removeAll(keepingCapacity: headers.capacity * MemoryLayout<Header>.stride <= Self.retainedCapacity)
            arena.removeAll(keepingCapacity: arena.capacity <= Self.retainedCapacity)
            arenaDiscarded += arenaHead
            headerHead = 0
            arenaHead = 0
            return
        }
        if headerHead >= 1024 && headerHead * 2 >= headers.count {
            headers.removeFirst(headerHead)
            headerHead = 0
        }
        if arenaHead >= 4096 && arenaHead * 2 >= arena.count {
            arena.removeFirst(arenaHead)
            arenaDiscarded += arenaHead
            arenaHead = 0
        }
    }

    /// Whether `bytes` has a 0 byte, eight bytes at a time.
    private static func containsZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let count = bytes.count
        var index = 0
        while index + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0 { return true }
            index += 8
        }
        while index < count {
            if base.load(fromByteOffset: index, as: UInt8.self) == 0 { return true }
            index += 1
        }
        return false
    }
}
