#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why output stopped.
public enum OutputError: Error, Sendable, Equatable {
    /// The reader went away (EPIPE): `pmpipe ... | head`.
    case closed
    /// A termination signal arrived while write(2) was blocked (a reader
    /// that stopped reading): the caller's loop ends the run.
    case interrupted
    /// Any other write(2) failure, with strerror's text.
    case failed(String)
}

/// A large byte buffer in front of one file descriptor, written with
/// write(2) when full and whenever the caller flushes (after each fetch).
///
/// stdio would do, but its locking and its per-call overhead show at a
/// million lines; and EPIPE has to be seen, not turned into SIGPIPE.
public final class OutputBuffer {
    public let fd: Int32
    private let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var count = 0

    public init(fd: Int32, capacity: Int = 1 << 20) {
        self.fd = fd
        self.capacity = capacity
        storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
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

    @inline(__always)
    public func append(byte: UInt8) throws(OutputError) {
        if count == capacity { try flush() }
        storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    public func append(_ text: String) throws(OutputError) {
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

    /// Writes everything buffered.
    /// The corresponding C call is write(2), retried on EINTR and short writes.
    public func flush() throws(OutputError) {
        guard count > 0 else { return }
        let pending = UnsafeRawBufferPointer(start: storage, count: count)
        count = 0
        try writeAll(pending)
    }

    /// Drops what is buffered (after the reader has gone).
    public func discard() { count = 0 }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(OutputError) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, next, left)
            if n < 0 {
                let err = errno
                if err == EINTR {
                    if TerminationSignals.caught != nil { throw .interrupted }
                    continue
                }
                if err == EPIPE { throw .closed }
                throw .failed(String(cString: strerror(err)))
            }
            next += n
            left -= n
        }
    }
}
