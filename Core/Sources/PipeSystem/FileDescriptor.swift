import CPipeSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// A raw file descriptor owned by whoever holds it; `close()` is explicit,
/// as in swift-system. Nonblocking reads report `wouldBlock` instead of
/// throwing, so a poll loop can tell "nothing yet" from "gone".
public struct FileDescriptor: Sendable, Hashable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The outcome of one `read`.
    public enum ReadResult: Equatable, Sendable {
        case bytes(Int)
        case wouldBlock
        case endOfFile
    }

    /// Reads at most `buffer.count` bytes. EINTR is retried; EAGAIN becomes
    /// `.wouldBlock`; 0 bytes becomes `.endOfFile`.
    /// The corresponding C call is read(2).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> ReadResult {
        guard buffer.count > 0 else { return .bytes(0) }
        let count: Int
        do {
            count = try retryingEINTR("read(fd \(rawValue))") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return .wouldBlock }
            throw error
        }
        return count == 0 ? .endOfFile : .bytes(count)
    }

    /// Writes some of `bytes`, returning how many were written (EINTR retried).
    /// The corresponding C call is write(2).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try write(bytes, retryOnInterrupt: true)
    }

    /// Writes some of `bytes`, returning how many were written. With
    /// `retryOnInterrupt` false, a write that a signal handler interrupted
    /// throws `Errno.interrupted` instead of going on: a writer blocked on a
    /// reader that stopped reading can then notice the signal and give up.
    /// The corresponding C call is write(2).
    public func write(_ bytes: UnsafeRawBufferPointer, retryOnInterrupt: Bool) throws(SystemError) -> Int {
        guard bytes.count > 0 else { return 0 }
        return try retryingEINTR("write(fd \(rawValue))", retry: retryOnInterrupt) {
            Glibc.write(rawValue, bytes.baseAddress, bytes.count)
        }
    }

    /// Closes the descriptor. Errors are ignored: on Linux the descriptor is
    /// released even when close reports one, and retrying could close a
    /// descriptor another thread just opened. The corresponding C call is close(2).
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Sets O_NONBLOCK. The corresponding C call is fcntl(2) with F_SETFL.
    public func setNonBlocking() throws(SystemError) {
        let flags = try retryingEINTR("fcntl(fd \(rawValue), F_GETFL)") { fcntl(rawValue, F_GETFL) }
        _ = try retryingEINTR("fcntl(fd \(rawValue), F_SETFL, O_NONBLOCK)") {
            fcntl(rawValue, F_SETFL, flags | O_NONBLOCK)
        }
    }

    /// A new pipe, both ends close-on-exec (blocking).
    /// The corresponding C call is pipe2(2) with O_CLOEXEC.
    public static func pipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try retryingEINTR("pipe2(O_CLOEXEC)") { pipe_pipe_cloexec(&fds) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// Clears O_NONBLOCK. The corresponding C call is fcntl(2).
    public func setBlocking() throws(SystemError) {
        let flags = fcntl(rawValue, F_GETFL)
        guard flags >= 0, fcntl(rawValue, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            throw lastError("fcntl(F_SETFL) on descriptor \(rawValue)")
        }
    }

    /// Descriptor 1.
    public static let standardOutput = FileDescriptor(rawValue: 1)
    /// Descriptor 2.
    public static let standardError = FileDescriptor(rawValue: 2)

    /// The size of the file open on this descriptor, or nil if fstat fails.
    /// The corresponding C call is fstat(2).
    public var size: Int? {
        var info = stat()
        guard fstat(rawValue, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// Writes all of `text`, retrying short writes and EINTR; gives up
    /// silently on any other error (for messages to stderr).
    /// The corresponding C call is write(2).
    public func writeAll(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                guard
                    let written = try? write(
                        UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[offset...])),
                    written > 0
                else { return }
                offset += written
            }
        }
    }
}
