#if canImport(Glibc)
    import Glibc
#endif

/// A configuration file or directory the agent refuses to read, and why.
public struct ConfigFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `/etc/pcp/pipe.conf.d/x.conf: writable by group or others (mode 0664); refusing to read it`
    public var description: String { "\(path): \(reason)" }
}

/// Reads the agent's configuration: the files that decide which commands
/// run as root, so anything another user could have written is refused.
public enum ConfigFiles {
    /// Name endings of package-manager and editor leftovers, never read.
    public static let ignoredSuffixes = [
        "~", ".rpmsave", ".rpmnew", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-bak",
    ]

    /// Reads the main file (if it exists) then every regular file in
    /// `directory` (if it exists) in byte-wise name order, skipping names
    /// starting with "." or ending in "~", ".rpmsave", ".rpmnew", ".dpkg-old",
    /// ".dpkg-new", ".dpkg-dist". Refuses (throws, naming the path and why)
    /// any file or directory that is not owned by root (`trustedOwner`) or is
    /// writable by group or others, and symlinks resolving to such.
    /// The corresponding C calls are open(2), fstat(2), opendir(3).
    public static func load(mainFile: String?, directory: String?, trustedOwner: UInt32 = 0)
        throws(ConfigFileError) -> [(name: String, text: String)]
    {
        var sources: [(name: String, text: String)] = []
        if let mainFile, exists(mainFile) {
            if let text = try read(mainFile, trustedOwner: trustedOwner) { sources.append((mainFile, text)) }
        }
        if let directory, exists(directory) {
            let info: stat
            do {
                info = try Files.status(directory)
            } catch {
                throw ConfigFileError(path: directory, reason: error.description)
            }
            guard info.isDirectory else { throw ConfigFileError(path: directory, reason: "not a directory") }
            try checkTrusted(info, path: directory, trustedOwner: trustedOwner)
            try checkDirectories(above: directory, trustedOwner: trustedOwner)
            let names: [String]
            do {
                names = try Files.names(in: directory)
            } catch {
                throw ConfigFileError(path: directory, reason: error.description)
            }
            for name in names.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where !isIgnored(name) {
                let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
                if let text = try read(path, trustedOwner: trustedOwner) { sources.append((path, text)) }
            }
        }
        return sources
    }

    /// Whether a directory entry is a hidden file or a backup left by an
    /// editor or package manager.
    public static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix(".") || ignoredSuffixes.contains(where: { name.hasSuffix($0) })
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Reads one file after checking the opened file itself (so a symlink is
    /// judged by what it resolves to, and nothing can be swapped in between
    /// the check and the read), and every directory above both the path as
    /// given and the file it resolves to: a symlink in a directory another
    /// user may write could be pointed elsewhere. The file is opened
    /// nonblocking, so a FIFO cannot make the agent wait, and must be a
    /// regular file.
    private static func read(_ path: String, trustedOwner: UInt32) throws(ConfigFileError) -> String? {
        let fd: FileDescriptor
        do {
            fd = try Files.openForReading(path, nonBlocking: true)
        } catch {
            throw ConfigFileError(path: path, reason: error.description)
        }
        defer { fd.close() }
        do {
            let info = try Files.status(of: fd, path: path)
            // A subdirectory of the drop-in directory is not a file to read;
            // anything else that is not a regular file (a FIFO, a device) is
            // refused: configuration files must be regular files.
            if info.isDirectory { return nil }
            guard info.isRegularFile else {
                throw ConfigFileError(path: path, reason: "not a regular file; refusing to read it")
            }
            try checkTrusted(info, path: path, trustedOwner: trustedOwner)
            try checkDirectories(above: path, trustedOwner: trustedOwner)
            if let resolved = SystemLaunchFacts.pathOfDescriptor(fd.rawValue), resolved != path {
                try checkDirectories(above: resolved, trustedOwner: trustedOwner)
            }
            // And every link on the way: a link in a user's directory, even
            // one pointing at a file of root's, lets that user choose which
            // of root's files is read as configuration.
            if let reason = PinnedExecutables.untrustedReason(
                path: absolute(path), file: info, trustedOwner: UInt32(trustedOwner),
                consequence: "who could choose what is read as configuration")
            {
                throw ConfigFileError(path: path, reason: reason + "; refusing to read it")
            }
            try fd.setBlocking()
            let bytes = try Files.contents(of: fd, path: path)
            return String(decoding: bytes, as: UTF8.self)
        } catch let error as ConfigFileError {
            throw error
        } catch let error as SystemError {
            throw ConfigFileError(path: path, reason: error.description)
        } catch {
            throw ConfigFileError(path: path, reason: "\(error)")
        }
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4097)
        guard getcwd(&buffer, 4096) != nil else { return path }
        let directory = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return directory == "/" ? "/" + path : directory + "/" + path
    }

    /// Every directory from the file's parent up to /: owned by root, not
    /// writable by group or others, unless it is sticky like /tmp (then
    /// others cannot replace what root owns in it).
    private static func checkDirectories(above path: String, trustedOwner: UInt32) throws(ConfigFileError) {
        var directory = path
        while let slash = directory.lastIndex(of: "/") {
            directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            let info: stat
            do { info = try Files.status(directory) } catch {
                throw ConfigFileError(path: directory, reason: error.description)
            }
            if info.st_mode & S_ISVTX != 0 && UInt32(info.st_uid) == trustedOwner
                || info.st_uid == 0 && info.st_mode & S_ISVTX != 0
            {
                if directory == "/" { break }
                continue
            }
            try checkTrusted(info, path: directory, trustedOwner: trustedOwner)
            if directory == "/" { break }
        }
    }

    private static func checkTrusted(_ info: stat, path: String, trustedOwner: UInt32) throws(ConfigFileError) {
        let kind = info.isDirectory ? "directory" : "file"
        guard UInt32(info.st_uid) == trustedOwner else {
            let owner = Accounts.user(id: UInt32(info.st_uid))?.name ?? String(info.st_uid)
            let wanted = Accounts.user(id: trustedOwner)?.name ?? String(trustedOwner)
            throw ConfigFileError(path: path, reason: "\(kind) owned by \(owner), not \(wanted); refusing to read it")
        }
        guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw ConfigFileError(
                path: path,
                reason:
                    "\(kind) writable by group or others (mode \(String(repeating: "0", count: max(0, 4 - mode.count)) + mode)); refusing to read it"
            )
        }
    }
}
