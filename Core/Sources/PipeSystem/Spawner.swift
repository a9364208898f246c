import CPipeSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// Everything needed to start one command: what to run, with which
/// environment, as whom, and with which privileges. A value type, like
/// swift-subprocess's platform options; the agent builds one per command.
public struct SpawnRequest: Sendable {
    /// Absolute path of the executable; never searched in PATH here.
    public var executablePath: String
    /// The whole argv, argv[0] included.
    public var arguments: [String]
    /// The whole environment as "K=V"; nothing is inherited from the agent.
    public var environment: [String]
    public var userID: UInt32
    public var groupID: UInt32
    public var supplementaryGroups: [UInt32]
    /// nil: ordinary setuid semantics (a non-root user ends with no
    /// capabilities, root keeps all). A list: exactly these capabilities
    /// (permitted, effective, inheritable and ambient, so they survive exec
    /// as a non-root user); every other one is also dropped from the bounding
    /// set. `[]` means none at all, even for root.
    public var capabilities: [Int32]? = nil
    /// PR_SET_NO_NEW_PRIVS: setuid and file-capability binaries gain nothing.
    public var noNewPrivileges = false
    /// Entered after the credential change, so it must be reachable by the user.
    public var workingDirectory = "/"
    /// When set, this open file is executed (execveat(2) with AT_EMPTY_PATH)
    /// instead of `executablePath`, which then only names it in messages: what
    /// runs is what the agent checked, even if the path is replaced meanwhile.
    public var executable: FileDescriptor? = nil
    /// The executable is a script (`#!`): its interpreter opens it again as
    /// /dev/fd/N, so the descriptor stays open across exec.
    public var executableIsScript = false
    /// cgroup.procs files the child writes its pid to before it drops its
    /// privileges, so that it and everything it starts belong to the run's
    /// cgroups (see CgroupSet).
    public var cgroupProcs: [FileDescriptor] = []

    public init(
        executablePath: String, arguments: [String], environment: [String],
        userID: UInt32, groupID: UInt32, supplementaryGroups: [UInt32] = [],
        capabilities: [Int32]? = nil, noNewPrivileges: Bool = false,
        workingDirectory: String = "/"
    ) {
        self.executablePath = executablePath
        self.arguments = arguments
        self.environment = environment
        self.userID = userID
        self.groupID = groupID
        self.supplementaryGroups = supplementaryGroups
        self.capabilities = capabilities
        self.noNewPrivileges = noNewPrivileges
        self.workingDirectory = workingDirectory
    }

}

/// A running command. `pid` is also its session and process group id, so
/// `ProcessGroup.signal(pid, ...)` reaches everything it started.
/// The two descriptors are the parent's read ends: close-on-exec, nonblocking,
/// owned by the caller.
public struct SpawnedProcess: Sendable {
    public let pid: Int32
    public let stdout: FileDescriptor
    public let stderr: FileDescriptor

    public init(pid: Int32, stdout: FileDescriptor, stderr: FileDescriptor) {
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Why a spawn failed: the step (as the sysadmin should read it, e.g.
/// `exec /usr/bin/nope` or `setuid(1000)`) and errno. Reported synchronously:
/// a failure in the child before exec travels back through a pipe.
public struct SpawnError: Error, Sendable, Equatable, CustomStringConvertible {
    public let stage: String
    public let errno: Int32

    public init(stage: String, errno: Int32) {
        self.stage = stage
        self.errno = errno
    }

    /// `exec /usr/bin/nope: No such file or directory`
    public var description: String { "\(stage): \(SystemError.message(for: errno))" }
}

/// Starts commands. All the work between fork and exec is in C
/// (`pipe_spawn`); this is the Swift face of it.
public enum Spawner {
    /// Forks and execs `request` in its own session with a default signal
    /// state, stdin from /dev/null, stdout and stderr to two pipes, no other
    /// descriptor, the requested credentials, and SIGKILL as its parent-death
    /// signal. Returns once exec succeeded or throws the precise failure.
    ///
    /// Credentials are changed whenever the agent is root, or the request
    /// names another uid/gid than the caller's; an unprivileged caller asking
    /// for its own ids keeps its supplementary groups.
    ///
    /// The parent-death signal follows the *thread* that called spawn:
    /// call it from a thread that lives as long as the command (the agent's
    /// main thread), never from a short-lived worker.
    /// The corresponding C call is `pipe_spawn` (fork(2) + execve(2)).
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> SpawnedProcess {
        guard request.executablePath.hasPrefix("/") else {
            throw SpawnError(stage: "exec \(request.executablePath) (not an absolute path)", errno: EINVAL)
        }
        guard !request.arguments.isEmpty else {
            throw SpawnError(stage: "exec \(request.executablePath) (empty argv)", errno: EINVAL)
        }
        let strings = [request.executablePath, request.workingDirectory] + request.arguments + request.environment
        if let bad = strings.first(where: { $0.utf8.contains(0) }) {
            throw SpawnError(
                stage: "exec \(request.executablePath) (NUL byte in \(bad.debugDescription))", errno: EINVAL)
        }

        let changeCredentials = geteuid() == 0 || request.userID != getuid() || request.groupID != getgid()
        let argv = CStringArray(request.arguments)
        let envp = CStringArray(request.environment)
        defer {
            argv.free()
            envp.free()
        }
        var result = pipe_spawn_result()
        let groups = request.supplementaryGroups.map { gid_t($0) }
        let caps = request.capabilities ?? []
        let cgroupFDs = request.cgroupProcs.map(\.rawValue)
        let rc = request.executablePath.withCString { path in
            request.workingDirectory.withCString { cwd in
                groups.withUnsafeBufferPointer { groupBuffer in
                    caps.withUnsafeBufferPointer { capBuffer in
                        cgroupFDs.withUnsafeBufferPointer { cgroupBuffer in
                            var req = pipe_spawn_request()
                            req.path = path
                            req.argv = UnsafePointer(argv.pointer)
                            req.envp = UnsafePointer(envp.pointer)
                            req.cwd = cwd
                            req.uid = uid_t(request.userID)
                            req.gid = gid_t(request.groupID)
                            req.groups = groupBuffer.baseAddress
                            req.ngroups = groupBuffer.count
                            req.change_credentials = changeCredentials ? 1 : 0
                            req.caps = capBuffer.baseAddress
                            req.ncaps = capBuffer.count
                            req.has_caps = request.capabilities == nil ? 0 : 1
                            req.no_new_privs = request.noNewPrivileges ? 1 : 0
                            req.exec_fd = request.executable?.rawValue ?? -1
                            req.exec_fd_keep_open = request.executableIsScript ? 1 : 0
                            req.cgroup_fds = cgroupBuffer.baseAddress
                            req.ncgroup_fds = cgroupBuffer.count
                            return pipe_spawn(&req, &result)
                        }
                    }
                }
            }
        }
        guard rc == 0 else {
            throw SpawnError(stage: stageDescription(result.stage, request), errno: result.error)
        }
        return SpawnedProcess(
            pid: result.pid,
            stdout: FileDescriptor(rawValue: result.stdout_fd),
            stderr: FileDescriptor(rawValue: result.stderr_fd))
    }

    /// Turns the C shim's stage into the words an error message needs.
    static func stageDescription(_ stage: Int32, _ request: SpawnRequest) -> String {
        let groups = request.supplementaryGroups.map(String.init).joined(separator: ",")
        let caps = (request.capabilities ?? []).map(String.init).joined(separator: ",")
        switch UInt32(stage) {
        case PIPE_STAGE_PIPE.rawValue: return "pipe2"
        case PIPE_STAGE_FORK.rawValue: return "fork"
        case PIPE_STAGE_SETSID.rawValue: return "setsid"
        case PIPE_STAGE_CGROUP.rawValue: return "join the run's cgroup"
        case PIPE_STAGE_SIGNALS.rawValue: return "reset signal mask"
        case PIPE_STAGE_STDIN.rawValue: return "open /dev/null"
        case PIPE_STAGE_DUP.rawValue: return "dup2 onto stdin/stdout/stderr"
        case PIPE_STAGE_CLOSE.rawValue: return "close_range(3, ~0)"
        case PIPE_STAGE_CAPABILITIES.rawValue: return "capabilities [\(caps)] (out of range)"
        case PIPE_STAGE_BOUNDING.rawValue: return "PR_CAPBSET_DROP (keeping [\(caps)])"
        case PIPE_STAGE_KEEPCAPS.rawValue: return "PR_SET_KEEPCAPS"
        case PIPE_STAGE_SETGROUPS.rawValue: return "setgroups([\(groups)])"
        case PIPE_STAGE_SETGID.rawValue: return "setgid(\(request.groupID))"
        case PIPE_STAGE_SETUID.rawValue: return "setuid(\(request.userID))"
        case PIPE_STAGE_VERIFY.rawValue:
            return "verify uid \(request.userID) gid \(request.groupID) (change did not stick)"
        case PIPE_STAGE_CAPSET.rawValue: return "capset([\(caps)])"
        case PIPE_STAGE_AMBIENT.rawValue: return "PR_CAP_AMBIENT_RAISE ([\(caps)])"
        case PIPE_STAGE_NO_NEW_PRIVS.rawValue: return "PR_SET_NO_NEW_PRIVS"
        case PIPE_STAGE_PDEATHSIG.rawValue: return "PR_SET_PDEATHSIG"
        case PIPE_STAGE_CHDIR.rawValue: return "chdir \(request.workingDirectory)"
        case PIPE_STAGE_EXEC.rawValue: return "exec \(request.executablePath)"
        default: return "spawn \(request.executablePath) (stage \(stage))"
        }
    }
}

/// A NULL-terminated `char *[]` of strdup'ed strings, freed explicitly.
struct CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() {
            pointer[index] = strdup(string)
        }
        pointer[strings.count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointer[index]) }
        pointer.deallocate()
    }
}
