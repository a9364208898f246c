#if canImport(Glibc)
    import Glibc
#endif

/// Unix sockets in the file system, as a client sees them.
public enum LocalSocket {
    /// Whether `path` (symlinks followed) is a unix socket: pmcd's is there
    /// while pmcd runs, so a client that fails to connect through it can
    /// tell "pmcd is busy" (try again) from "no pmcd" (give up).
    /// The corresponding C call is stat(2).
    public static func exists(at path: String) -> Bool {
        guard let info = try? Files.status(path) else { return false }
        return info.st_mode & S_IFMT == S_IFSOCK
    }
}
