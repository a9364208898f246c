import PipeCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program opened for execution: the spawn executes this very file
/// (`SpawnRequest.executable`), so what runs is what was checked, even if
/// someone replaces the path in between.
public final class ExecutableFile {
    public let path: String
    public let descriptor: FileDescriptor
    /// Starts with `#!`: its interpreter reads it again through /dev/fd/N.
    public let isScript: Bool
    public let size: Int
    let key: FileKey

    init(path: String, descriptor: FileDescriptor, isScript: Bool, size: Int, key: FileKey) {
        self.path = path
        self.descriptor = descriptor
        self.isScript = isScript
        self.size = size
        self.key = key
    }

    deinit { descriptor.close() }
}

/// What identifies one version of a file without reading it: if any of
/// these change, the contents may have.
struct FileKey: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
    var modifiedNanoseconds: Int64
    var changed: Int64
    var changedNanoseconds: Int64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec)
        changedNanoseconds = Int64(info.st_ctim.tv_nsec)
    }
}

/// Why a program may not run, or not yet.
public enum ExecutableRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Its file or a directory above it could be changed by someone else
    /// than root, and it runs as root or with capabilities.
    case untrusted(String)
    /// Its bytes are not those pinned by `sha256 =`.
    case mismatch(path: String, actual: String)
    /// A large program is being hashed off the agent's thread; the request
    /// may be repeated in a moment.
    case verifying(path: String, bytes: Int)
    case unreadable(String)

    public var description: String {
        switch self {
        case .untrusted(let reason): return reason
        case .mismatch(let path, let actual):
            return Self.mismatch(path, actual: actual) + ", so it is not run"
        case .verifying(let path, let bytes):
            return "\(path) (\(bytes >> 20) MiB) is being checked against its pinned sha256; try again in a few seconds"
        case .unreadable(let reason): return reason
        }
    }

    /// The one sentence for a pinned program whose bytes differ from its
    /// pin, said by `pmdapipe -C`, the agent's log after a load and a
    /// refused request alike: "PATH does not match its pinned sha256 (it
    /// is HEX)", `actual` being the program's digest in hex.
    public static func mismatch(_ path: String, actual: String) -> String {
        "\(path) does not match its pinned sha256 (it is \(actual))"
    }
}

/// Opens programs for execution and checks `sha256 =` pins without making
/// a request wait on a big file: digests are cached by the file's identity
/// (device, inode, size, modification and change times), small files are
/// hashed when first asked for, big ones on a worker thread.
///
/// The agent's thread calls `open`, `prefetch` and `collect`; the worker
/// thread only hashes. `notification` becomes readable when the worker has
/// finished something: the agent's poll loop watches it and calls `collect`.
public final class PinnedExecutables: @unchecked Sendable {
    /// Files up to this size are hashed on the spot (a few milliseconds).
    public static let inlineHashLimit = 16 << 20

    private var digests: [FileKey: [UInt8]] = [:]
    private let work = Mutex(WorkState())
    private let wakeWorker: EventCounter
    /// Readable when hashes have finished (the agent polls it).
    public let notification: EventCounter
    private var worker: pthread_t?

    private struct WorkState {
        var queue: [(path: String, key: FileKey)] = []
        var pending: Set<FileKey> = []
        var done: [(key: FileKey, digest: [UInt8]?)] = []
        var stopping = false
    }

    /// Who besides root may own what a pinned or privileged program is
    /// reached through: root in the agent; the tests' own user in tests that
    /// do not run as root.
    private let trustedOwner: uid_t

    public init(trustedOwner: uid_t = 0) throws(SystemError) {
        self.trustedOwner = trustedOwner
        wakeWorker = try EventCounter(blocking: true)
        notification = try EventCounter()
    }

    /// Opens `path` to execute it (a regular file only: a FIFO or a device a
    /// user put there is never opened, see `Files.openRegularFile`). When
    /// `requireTrusted` (the command runs as root or with capabilities) or a
    /// `pin` is set, refuses a file that anyone but root could change: one
    /// owned by someone else or writable by group or others, or reached
    /// through a directory or a symbolic link someone else could change (a
    /// pin checked on such a file would say nothing about the bytes that run
    /// a moment later). When `pin` is set, the bytes must hash to it: from
    /// the cache, hashed now (small files), or refused as `.verifying` while
    /// the worker hashes a big one.
    /// The corresponding C calls are open(2), fstat(2), pread(2), read(2).
    public func open(_ path: String, pin: [UInt8]?, requireTrusted: Bool) -> Result<ExecutableFile, ExecutableRefusal> {
        let opened: (FileDescriptor, stat)
        do {
            opened = try Files.openRegularFile(path)
        } catch  where error.errno == EINVAL {
            return .failure(.unreadable("\(path) is not a regular file"))
        } catch {
            return .failure(.unreadable("cannot open \(path): \(SystemError.message(for: error.errno))"))
        }
        let (fd, info) = opened
        let raw = fd.rawValue
        if requireTrusted || pin != nil,
            let reason = Self.untrustedReason(
                path: path, file: info, trustedOwner: trustedOwner,
                consequence: requireTrusted ? Self.replacesRootsProgram : Self.defeatsThePin)
        {
            fd.close()
            return .failure(.untrusted(reason))
        }
        var magic: (UInt8, UInt8) = (0, 0)
        let isScript =
            withUnsafeMutableBytes(of: &magic) { pread(raw, $0.baseAddress, 2, 0) } == 2
            && magic == (UInt8(ascii: "#"), UInt8(ascii: "!"))
        let key = FileKey(info)
        let file = ExecutableFile(path: path, descriptor: fd, isScript: isScript, size: Int(info.st_size), key: key)
        guard let pin else { return .success(file) }
        let digest: [UInt8]
        if let known = digests[key] {
            digest = known
        } else if file.size <= Self.inlineHashLimit {
            do {
                digest = try Self.hash(fd, path: path)
            } catch {
                return .failure(.unreadable("cannot read \(path) to check its pinned sha256: \(error)"))
            }
            digests[key] = digest
        } else {
            schedule(path: path, key: key)
            return .failure(.verifying(path: path, bytes: file.size))
        }
        guard digest == pin else {
            return .failure(.mismatch(path: path, actual: SHA256Hasher.hex(digest)))
        }
        return .success(file)
    }

    /// Hashes `paths` on the worker, so that the first request for a big
    /// pinned program does not have to wait (called when a configuration is
    /// loaded). Never blocks.
    public func prefetch(_ paths: [String]) {
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0, info.isRegularFile else { continue }
            let key = FileKey(info)
            if digests[key] == nil { schedule(path: path, key: key) }
        }
    }

    /// Takes the worker's finished digests into the cache; returns how many.
    @discardableResult
    public func collect() -> Int {
        _ = notification.drain()
        let finished = work.withLock { state -> [(key: FileKey, digest: [UInt8]?)] in
            defer { state.done = [] }
            for item in state.done { state.pending.remove(item.key) }
            return state.done
        }
        for case (let key, let digest?) in finished { digests[key] = digest }
        return finished.count
    }

    /// The cached digest of the file now at `path`, if it has been hashed in
    /// this version (one stat(2); never reads the file).
    public func cachedDigest(of path: String) -> [UInt8]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return digests[FileKey(info)]
    }

    /// Whether the worker still has files to hash.
    public var isHashing: Bool { work.withLock { !$0.pending.isEmpty } }

    /// Forgets digests of files that no longer exist in that version
    /// (called after a reload, so the cache does not grow without bound).
    public func forget(except keep: [String]) {
        var live: Set<FileKey> = []
        for path in keep {
            var info = stat()
            if stat(path, &info) == 0 { live.insert(FileKey(info)) }
        }
        digests = digests.filter { live.contains($0.key) }
    }

    private func schedule(path: String, key: FileKey) {
        let added = work.withLock { state -> Bool in
            guard !state.pending.contains(key) else { return false }
            state.pending.insert(key)
            state.queue.append((path, key))
            return true
        }
        guard added else { return }
        startWorkerIfNeeded()
        wakeWorker.signal()
    }

    // MARK: - The worker thread

    private func startWorkerIfNeeded() {
        guard worker == nil else { return }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { raw in
                let pins = Unmanaged<PinnedExecutables>.fromOpaque(raw!).takeRetainedValue()
                pins.runWorker()
                return nil
            }, context)
        if status == 0 {
            pthread_detach(thread)
            worker = thread
        } else {
            Unmanaged<PinnedExecutables>.fromOpaque(context).release()
        }
    }

    private func runWorker() {
        // Signals belong to the agent's thread (its signalfd): a signal
        // delivered here would be lost, so this thread takes none.
        try? Signals.blockAll()
        while true {
            _ = wakeWorker.wait()
            while let next = work.withLock({ state -> (path: String, key: FileKey)? in
                state.queue.isEmpty ? nil : state.queue.removeFirst()
            }) {
                var digest: [UInt8]?
                if let (fd, info) = try? Files.openRegularFile(next.path) {
                    if FileKey(info) == next.key {
                        digest = try? Self.hash(fd, path: next.path)
                        var after = stat()
                        if fstat(fd.rawValue, &after) != 0 || FileKey(after) != next.key { digest = nil }
                    }
                    fd.close()
                }
                work.withLock { $0.done.append((next.key, digest)) }
                notification.signal()
            }
        }
    }

    // MARK: - Checks

    private static func hash(_ fd: FileDescriptor, path: String) throws(SystemError) -> [UInt8] {
        guard lseek(fd.rawValue, 0, SEEK_SET) == 0 else { throw lastError("lseek \(path)") }
        return try Executables.sha256(of: fd, path: path)
    }

    static let replacesRootsProgram = "who could replace what runs as root"
    static let defeatsThePin = "who could change it after its sha256 is checked, so the pin would prove nothing"

    /// Why the program at `path` is not safe to run as root or to pin, or
    /// nil (see `untrustedReason`); for `pmdapipe -C` and loading.
    public static func trustProblem(of path: String, pinned: Bool) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot check \(path): \(SystemError.message(for: errno))" }
        return untrustedReason(
            path: path, file: info, trustedOwner: 0, consequence: pinned ? defeatsThePin : replacesRootsProgram)
    }

    /// Why a program run as root (or pinned) is not safe to run: it is owned
    /// by someone else than root or writable by group or others, or one of
    /// the directories it is looked up through is, following every symbolic
    /// link on the way (a link in a user's directory lets that user choose
    /// the program, even one of root's). A sticky directory (/tmp) counts as
    /// root's for an entry that root owns in it: no one else may rename or
    /// remove that entry. `trustedOwner` is trusted like root (tests).
    static func untrustedReason(path: String, file: stat, trustedOwner: uid_t, consequence: String) -> String? {
        func trusted(_ uid: uid_t) -> Bool { uid == 0 || uid == trustedOwner }
        func problem(_ info: stat, _ name: String, entryOwner: uid_t?) -> String? {
            if !trusted(info.st_uid) {
                return "\(name) is owned by uid \(info.st_uid), \(consequence)"
            }
            guard info.st_mode & (S_IWGRP | S_IWOTH) != 0 else { return nil }
            if info.st_mode & S_ISVTX != 0, let entryOwner, trusted(entryOwner) { return nil }
            let mode = String(info.st_mode & 0o7777, radix: 8)
            return "\(name) is writable by group or others (mode \(mode)), \(consequence)"
        }
        func lstatus(_ name: String) -> stat? {
            var info = stat()
            return lstat(name, &info) == 0 ? info : nil
        }
        if let reason = problem(file, path, entryOwner: nil) { return reason }
        guard path.hasPrefix("/") else { return "\(path) is not an absolute path" }
        // Walk the path as the kernel does, checking each directory before
        // trusting a name looked up in it.
        var remaining = Array(path.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed())
        var directory = "/"
        var links = 0
        while let name = remaining.popLast() {
            if name == "." { continue }
            if name == ".." {
                if let slash = directory.lastIndex(of: "/") {
                    directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
                }
                continue
            }
            let entry = directory == "/" ? "/" + name : directory + "/" + name
            guard let directoryInfo = lstatus(directory), let entryInfo = lstatus(entry) else {
                return "cannot check \(entry): \(SystemError.message(for: errno))"
            }
            if let reason = problem(directoryInfo, directory, entryOwner: entryInfo.st_uid) { return reason }
            if entryInfo.st_mode & S_IFMT == S_IFLNK {
                links += 1
                guard links <= 40, let target = Files.linkTarget(entry) else {
                    return "cannot check \(entry): too many or unreadable symbolic links"
                }
                remaining += target.split(separator: "/", omittingEmptySubsequences: true).map(String.init).reversed()
                if target.hasPrefix("/") { directory = "/" }
                continue
            }
            if remaining.isEmpty {
                // The last name: it must be the file that was opened.
                guard entryInfo.st_dev == file.st_dev, entryInfo.st_ino == file.st_ino else {
                    return "\(path) changed while it was being checked"
                }
                return nil
            }
            directory = entry
        }
        return "\(path) does not name a file"
    }

}
