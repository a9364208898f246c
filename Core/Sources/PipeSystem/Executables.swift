import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Finding and fingerprinting the programs the configuration names.
public enum Executables {
    /// Resolves a program name against the fixed PATH (`LaunchPlanner.fixedPath`)
    /// or, if it contains "/", takes it as given (it must then be absolute);
    /// the result must be an executable regular file.
    /// The corresponding C call is stat(2).
    public static func resolve(_ program: String) throws(SystemError) -> String {
        guard !program.isEmpty, !program.utf8.contains(0) else {
            throw SystemError(operation: "resolve \(program.debugDescription)", errno: EINVAL)
        }
        if program.contains("/") {
            guard program.hasPrefix("/") else {
                throw SystemError(operation: "resolve \(program) (not an absolute path)", errno: EINVAL)
            }
            let info = try Files.status(program)
            guard info.isRegularFile else {
                throw SystemError(operation: "resolve \(program) (not a regular file)", errno: EACCES)
            }
            guard info.st_mode & 0o111 != 0 else {
                throw SystemError(operation: "resolve \(program) (not executable)", errno: EACCES)
            }
            return program
        }
        for directory in LaunchPlanner.fixedPath.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            guard let info = try? Files.status(candidate) else { continue }
            if info.isRegularFile && info.st_mode & 0o111 != 0 { return candidate }
        }
        throw SystemError(operation: "resolve \(program) in \(LaunchPlanner.fixedPath)", errno: ENOENT)
    }

    /// SHA-256 of a file's contents (streamed through libcrypto).
    /// Only a regular file is opened (`-C` must not hang on a FIFO).
    /// The corresponding C calls are open(2) and read(2).
    public static func sha256(ofFile path: String) throws(SystemError) -> [UInt8] {
        let (fd, _) = try Files.openRegularFile(path)
        defer { fd.close() }
        return try sha256(of: fd, path: path)
    }

    /// SHA-256 of what `fd` holds from its current offset to its end.
    public static func sha256(of fd: FileDescriptor, path: String) throws(SystemError) -> [UInt8] {
        let hasher = SHA256Hasher()
        try Files.forEachChunk(fd, path: path, chunkSize: 1 << 20) { hasher.update($0) }
        return hasher.finalize()
    }
}
