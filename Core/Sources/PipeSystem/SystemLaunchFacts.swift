import CPipeSpawn
import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's answers to the launch planner's questions, from this
/// machine. Accounts are resolved when a configuration is loaded
/// (`prepare(for:)`), so a request never waits on the password database;
/// everything else is a few bounded system calls on the agent's thread.
public final class SystemLaunchFacts: LaunchFacts {
    private var accounts: [String: RunAccount] = [:]

    public init() {}

    /// Resolves the run-as accounts of every command of `configuration`
    /// (user and all its groups) and keeps them until the next call.
    /// The corresponding C calls are getpwnam_r(3) and getgrouplist(3).
    public func prepare(for configuration: Configuration) {
        var resolved: [String: RunAccount] = [:]
        for command in configuration.commands where resolved[command.user] == nil {
            if let account = Self.lookUpAccount(command.user) { resolved[command.user] = account }
        }
        accounts = resolved
    }

    public func account(named name: String) -> RunAccount? { accounts[name] }

    /// A user name or a decimal uid, with all its groups, primary first.
    public static func lookUpAccount(_ name: String) -> RunAccount? {
        var user = Accounts.user(named: name)
        if user == nil, !name.isEmpty, name.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let uid = UInt32(name) {
            user = Accounts.user(id: uid)
        }
        guard let user else { return nil }
        return RunAccount(
            name: user.name, uid: user.uid, gid: user.gid,
            groups: Accounts.groups(of: user).map(\.gid), home: user.home)
    }

    /// What is said of a program that is not there, by a refused request
    /// and by `pmdapipe -C` alike: "is not installed (not found in PATH)".
    public static func notInstalled(_ program: String) -> String {
        "is not installed (\(program.contains("/") ? "no such file" : "not found in \(LaunchPlanner.fixedPath)"))"
    }

    /// A program that is not there is named as `pmdapipe -C` names it
    /// ("is not installed (not found in PATH)"), not as the stat(2) that
    /// failed; the request's refusal then reads "program 'btrace' is not
    /// installed ...".
    public func resolveProgram(_ program: String) -> Result<String, FactRefusal> {
        do {
            return .success(try Executables.resolve(program))
        } catch  where error.errno == ENOENT {
            return .failure(FactRefusal(Self.notInstalled(program)))
        } catch {
            return .failure(FactRefusal("cannot be run: \(error)"))
        }
    }

    // MARK: - Parameter facts

    /// Resolves with openat2(RESOLVE_BENEATH) from a descriptor of
    /// `directory`, reads the result back from /proc/self/fd, and refuses a
    /// path any of whose directories from "/" down the client may write to,
    /// owns (it may chmod it) or that carries a POSIX ACL (it could swap a
    /// component for a symbolic link between this check and the command's
    /// open). Root clients skip that last check.
    /// The corresponding C calls are open(2), openat2(2), readlink(2), lstat(2), lgetxattr(2).
    public func resolvePath(_ text: String, under directory: String, for client: ClientIdentity)
        -> Result<String, FactRefusal>
    {
        let relative: String
        if text.hasPrefix("/") {
            if text == directory || text == directory + "/" {
                relative = "."
            } else if text.hasPrefix(directory + "/") {
                relative = String(text.dropFirst(directory.count + 1))
            } else {
                return .failure(FactRefusal("is not a path under \(directory)"))
            }
        } else {
            relative = text
        }
        let base = pipe_open_directory_path(directory)
        guard base >= 0 else {
            return .failure(
                FactRefusal("cannot be checked: \(directory) cannot be opened (\(SystemError.message(for: errno)))"))
        }
        defer { close(base) }
        let target = pipe_openat2_beneath(base, relative)
        guard target >= 0 else {
            switch errno {
            case EXDEV: return .failure(FactRefusal("leads out of \(directory)"))
            case ENOENT, ENOTDIR: return .failure(FactRefusal("does not exist under \(directory)"))
            case ELOOP: return .failure(FactRefusal("goes through too many symbolic links"))
            case EACCES: return .failure(FactRefusal("cannot be reached under \(directory) (permission denied)"))
            case ENOSYS:
                return .failure(
                    FactRefusal("cannot be checked: this kernel has no openat2 (Linux 5.6 or later is needed)"))
            case let code:
                return .failure(FactRefusal("cannot be resolved under \(directory): \(SystemError.message(for: code))"))
            }
        }
        defer { close(target) }
        guard let root = Self.pathOfDescriptor(base), let resolved = Self.pathOfDescriptor(target) else {
            return .failure(FactRefusal("cannot be resolved (no /proc/self/fd)"))
        }
        guard resolved == root || resolved.hasPrefix(root == "/" ? "/" : root + "/") else {
            return .failure(FactRefusal("leads out of \(directory)"))
        }
        if resolved.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .failure(FactRefusal("resolves to a name with a control character"))
        }
        if client.uid != 0 {
            guard let chain = Self.directoryChain(to: resolved) else {
                return .failure(FactRefusal("cannot be checked: a directory on its way changed during the check"))
            }
            if let refusal = DirectoryWriteAccess.refusal(for: chain, client: client) {
                return .failure(FactRefusal(refusal))
            }
        }
        return .success(resolved)
    }

    /// The directories from "/" down to the parent of `path` (down to `path`
    /// itself when it is a directory), the ancestors of the parameter's
    /// directory included: whoever may rename one of them may swap the
    /// directory itself. Each with its owner, group, mode, whether it
    /// carries an access ACL, and the owner of the entry the path goes
    /// through next. nil when one cannot be examined or is no longer a
    /// directory. The corresponding C calls are lstat(2) and lgetxattr(2).
    static func directoryChain(to path: String) -> [DirectoryFacts]? {
        var paths = ["/"]
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            paths.append(current)
        }
        var infos: [stat] = []
        for entry in paths {
            guard let info = try? Files.status(entry, follow: false) else { return nil }
            infos.append(info)
        }
        let isDirectory = { (info: stat) in info.st_mode & S_IFMT == S_IFDIR }
        // The last entry is the target: a directory belongs to the chain, a file only names the next owner.
        let count = isDirectory(infos[infos.count - 1]) ? paths.count : paths.count - 1
        var chain: [DirectoryFacts] = []
        for index in 0..<count {
            let info = infos[index]
            guard isDirectory(info) else { return nil }
            chain.append(
                DirectoryFacts(
                    path: paths[index], owner: UInt32(info.st_uid), group: UInt32(info.st_gid),
                    mode: UInt32(info.st_mode & 0o7777), hasAccessACL: hasAccessACL(paths[index]),
                    nextEntryOwner: index + 1 < infos.count ? UInt32(infos[index + 1].st_uid) : nil))
        }
        return chain
    }

    /// Whether `path` carries the extended attribute system.posix_acl_access;
    /// an answer other than "no such attribute" or "not supported" counts as
    /// yes. The corresponding C call is lgetxattr(2).
    static func hasAccessACL(_ path: String) -> Bool { pipe_has_access_acl(path) != 0 }

    /// readlink of /proc/self/fd/N: the path the kernel has for an open descriptor.
    static func pathOfDescriptor(_ fd: Int32) -> String? { Files.linkTarget("/proc/self/fd/\(fd)") }

    /// The `Uid:` and `Gid:` lines of /proc/PID/status (real, effective,
    /// saved, filesystem).
    public func processCredentials(_ pid: Int32) -> ProcessCredentials? {
        guard pid > 0, let bytes = Files.contents("/proc/\(pid)/status") else { return nil }
        return ProcessCredentials(procStatus: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether /sys/class/block/NAME exists (disks and partitions, as the
    /// kernel names them; see sysfs-class-block).
    public func blockDeviceExists(_ name: String) -> Bool {
        guard !name.contains("/"), !name.hasPrefix(".") else { return false }
        var info = stat()
        return lstat("/sys/class/block/\(name)", &info) == 0
    }
}
