import CPipeSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// Small file helpers shared by ConfigFiles, Executables, Memory, RunProcesses and ProcessInfoProbe.
enum Files {
    /// Opens `path` read-only and close-on-exec.
    /// The corresponding C call is open(2).
    static func openForReading(_ path: String, noFollow: Bool = false, nonBlocking: Bool = false)
        throws(SystemError) -> FileDescriptor
    {
        let flags = O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0) | (nonBlocking ? O_NONBLOCK : 0)
        let fd = try retryingEINTR("open \(path)") { open(path, flags) }
        return FileDescriptor(rawValue: fd)
    }

    /// The target of the symbolic link at `path` (readlink(2)), or nil.
    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink(path, &buffer, 4096)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens `path` read-only only if it is a regular file, without opening
    /// anything else: a FIFO would block the caller until a writer came, a
    /// device could act on being opened (a watchdog starts, a tape rewinds),
    /// and a user can put either where a program is expected. The path is
    /// first opened with O_PATH (which opens nothing), checked, and the very
    /// file it named is then opened through /proc/self/fd.
    /// The corresponding C calls are open(2) and fstat(2).
    static func openRegularFile(_ path: String) throws(SystemError) -> (FileDescriptor, stat) {
        let located = try retryingEINTR("open \(path)") { pipe_open_path(path) }
        defer { close(located) }
        var info = stat()
        guard fstat(located, &info) == 0 else { throw lastError("fstat \(path)") }
        guard info.isRegularFile else {
            throw SystemError(operation: "open \(path) (not a regular file)", errno: EINVAL)
        }
        let fd = try retryingEINTR("open \(path)") { open("/proc/self/fd/\(located)", O_RDONLY | O_CLOEXEC) }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_dev == info.st_dev, opened.st_ino == info.st_ino else {
            close(fd)
            throw SystemError(operation: "open \(path) (changed while being opened)", errno: EAGAIN)
        }
        return (FileDescriptor(rawValue: fd), opened)
    }

    /// fstat of an open descriptor. The corresponding C call is fstat(2).
    static func status(of fd: FileDescriptor, path: String) throws(SystemError) -> stat {
        var info = stat()
        _ = try retryingEINTR("fstat \(path)") { fstat(fd.rawValue, &info) }
        return info
    }

    /// stat (following symlinks) or lstat. The corresponding C calls are stat(2), lstat(2).
    static func status(_ path: String, follow: Bool = true) throws(SystemError) -> stat {
        var info = stat()
        if follow {
            _ = try retryingEINTR("stat \(path)") { stat(path, &info) }
        } else {
            _ = try retryingEINTR("lstat \(path)") { lstat(path, &info) }
        }
        return info
    }

    /// Calls `body` with successive chunks of the file until end of file.
    static func forEachChunk(
        _ fd: FileDescriptor, path: String, chunkSize: Int = 65536,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(SystemError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let result: FileDescriptor.ReadResult
            do {
                result = try fd.read(into: buffer)
            } catch {
                throw SystemError(operation: "read \(path)", errno: error.errno)
            }
            switch result {
            case .bytes(let count): body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            case .endOfFile: return
            case .wouldBlock: throw SystemError(operation: "read \(path)", errno: EAGAIN)
            }
        }
    }

    /// The whole contents of a small file.
    static func contents(of fd: FileDescriptor, path: String) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        try forEachChunk(fd, path: path) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The whole contents of a small file (e.g. under /proc), or nil.
    static func contents(_ path: String) -> [UInt8]? {
        guard let fd = try? openForReading(path) else { return nil }
        defer { fd.close() }
        return try? contents(of: fd, path: path)
    }

    /// The names in a directory except "." and "..", unsorted.
    /// The corresponding C calls are opendir(3) and readdir(3).
    static func names(in directory: String) throws(SystemError) -> [String] {
        guard let dir = opendir(directory) else { throw lastError("opendir \(directory)") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension stat {
    var isRegularFile: Bool { st_mode & S_IFMT == S_IFREG }
    var isDirectory: Bool { st_mode & S_IFMT == S_IFDIR }
    var isSymlink: Bool { st_mode & S_IFMT == S_IFLNK }
}
