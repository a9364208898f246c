// PipeSystem: processes, descriptors, poll, signals, accounts and files over
// Glibc. Every libc call goes through thin wrappers that turn a failure into a
// typed `SystemError`; EINTR is retried in exactly one place (`retryingEINTR`).

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call: the operation as the user should read it (the call
/// and its important argument, e.g. `setgid(65534)`) and the `errno` it set.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// `setgid(65534): Operation not permitted`
    public var description: String { "\(operation): \(SystemError.message(for: errno))" }

    /// `errno`, typed.
    public var code: Errno { Errno(rawValue: errno) }

    /// The C library's text for an errno value. The corresponding C call is strerror(3).
    public static func message(for errno: Int32) -> String {
        guard let text = strerror(errno) else { return "error \(errno)" }
        return String(cString: text)
    }
}

/// Calls `body` until it does not fail with EINTR; the single place where
/// interrupted system calls are retried. `body` returns -1 and sets errno on
/// failure, as libc calls do. With `retry` false an EINTR is thrown like any
/// other error, for a caller that must see the signal (`Errno.interrupted`).
@inline(__always)
func retryingEINTR<T: FixedWidthInteger>(
    _ operation: @autoclosure () -> String, retry: Bool = true,
    _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Glibc.errno
        if error == EINTR && retry { continue }
        throw SystemError(operation: operation(), errno: error)
    }
}

/// The current errno as a `SystemError` for `operation`.
func lastError(_ operation: String) -> SystemError {
    SystemError(operation: operation, errno: Glibc.errno)
}
