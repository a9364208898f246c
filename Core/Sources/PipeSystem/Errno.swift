#if canImport(Glibc)
    import Glibc
#endif

/// An errno value (errno(3)), typed, for the modules above PipeSystem, which
/// import no Glibc. PCP's APIs report a failed call as the negated value
/// (`-EAGAIN`), which `-Errno.tryAgain` spells.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// EPERM: the caller lacks the privilege.
    public static let notPermitted = Errno(rawValue: EPERM)
    /// ENOENT
    public static let noSuchFile = Errno(rawValue: ENOENT)
    /// EINTR: a signal handler ran while the call was blocked.
    public static let interrupted = Errno(rawValue: EINTR)
    /// EAGAIN (EWOULDBLOCK on Linux): try again later.
    public static let tryAgain = Errno(rawValue: EAGAIN)
    /// EACCES: the permissions refuse it.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// EPIPE: nobody reads the other end of the pipe or socket any more.
    public static let brokenPipe = Errno(rawValue: EPIPE)

    /// The C library's text for it. The corresponding C call is strerror(3).
    public var description: String { SystemError.message(for: rawValue) }

    /// The negated value, as PCP's APIs return a failed call (`-EAGAIN`).
    public static prefix func - (errno: Errno) -> Int32 { -errno.rawValue }
}
