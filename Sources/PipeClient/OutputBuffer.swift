import PipeSystem

/// Why output stopped.
public enum OutputError: Error, Sendable, Equatable {
    /// The reader went away (EPIPE): `pmpipe ... | head`.
    case closed
    /// A termination signal arrived while write(2) was blocked (a reader
    /// that stopped reading): the caller's loop ends the run.
    case interrupted
    /// Any other write(2) failure.
    case failed(Errno)
}

/// A large byte buffer in front of one file descriptor, written with
/// write(2) when full and whenever the caller flushes (after each fetch).
///
/// stdio would do, but its locking and its per-call overhead show at a
/// million lines; and EPIPE has to be seen, not turned into SIGPIPE.
///
/// A noncopyable struct, not a class: its owner keeps it in a local (or in
/// another noncopyable struct), so the compiler checks exclusive access at
/// compile time. As a class, every append paid two runtime exclusivity
/// checks (swift_beginAccess) on `count`, a tenth of pmpipe's time.
public struct OutputBuffer: ~Copyable {
    public let descriptor: FileDescriptor
    private let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var count = 0

    public init(_ descriptor: FileDescriptor, capacity: Int = 1 << 20) {
        self.descriptor = descriptor
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        if bytes.count > capacity - count {
            try flush()
            if bytes.count > capacity {
                try writeAll(bytes)
                return
            }
        }
        if let base = bytes.baseAddress, bytes.count > 0 {
            (storage + count).copyMemory(from: base, byteCount: bytes.count)
            count += bytes.count
        }
    }

    /// `bytes` then a newline, with one check for room: one output line.
    @inline(__always)
    public mutating func appendLine(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        let n = bytes.count
        if n < capacity - count, let base = bytes.baseAddress {
            let at = storage + count
            Self.copy(at, from: base, count: n)
            at.storeBytes(of: 0x0A, toByteOffset: n, as: UInt8.self)
            count += n + 1
        } else {
            try append(bytes)
            try append(byte: 0x0A)
        }
    }

    /// memcpy, with the short lengths of typical lines copied inline by two
    /// overlapping loads and stores: a call to memmove per line cost a tenth
    /// of pmpipe's time. Reads and writes only `count` bytes at each end.
    @inline(__always)
    static func copy(_ destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count n: Int) {
        if n >= 8 {
            guard n <= 16 else {
                destination.copyMemory(from: source, byteCount: n)
                return
            }
            let head = source.loadUnaligned(as: UInt64.self)
            let tail = source.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            destination.storeBytes(of: head, as: UInt64.self)
            destination.storeBytes(of: tail, toByteOffset: n - 8, as: UInt64.self)
        } else if n >= 4 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)
            destination.storeBytes(of: head, as: UInt32.self)
            destination.storeBytes(of: tail, toByteOffset: n - 4, as: UInt32.self)
        } else {
            for i in 0..<n {
                destination.storeBytes(
                    of: source.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self)
            }
        }
    }

    @inline(__always)
    public mutating func append(byte: UInt8) throws(OutputError) {
        if count == capacity { try flush() }
        storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    public mutating func append(_ text: String) throws(OutputError) {
        var text = text
        // withUTF8 only rethrows untyped errors: carry the typed one out.
        let failure = text.withUTF8 { bytes -> OutputError? in
            do throws(OutputError) {
                try append(UnsafeRawBufferPointer(bytes))
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Writes everything buffered, retrying short writes, and interrupted
    /// ones unless a termination signal interrupted them.
    public mutating func flush() throws(OutputError) {
        guard count > 0 else { return }
        let pending = UnsafeRawBufferPointer(start: storage, count: count)
        count = 0
        try writeAll(pending)
    }

    /// Drops what is buffered (after the reader has gone).
    public mutating func discard() { count = 0 }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        var left = bytes
        while !left.isEmpty {
            let written: Int
            do {
                written = try descriptor.write(left, retryOnInterrupt: false)
            } catch {
                switch error.code {
                case .interrupted:
                    if TerminationSignals.caught != nil { throw .interrupted }
                    continue
                case .brokenPipe:
                    throw .closed
                default:
                    throw .failed(error.code)
                }
            }
            left = UnsafeRawBufferPointer(rebasing: left[written...])
        }
    }
}
