import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Resource limits of one run, enforced by cgroup controllers
/// (`[instance]` settings memory, tasks, cpu).
public struct RunResourceLimits: Sendable, Equatable {
    /// Bytes of memory (cgroup v2 memory.max, v1 memory.limit_in_bytes).
    public var memoryBytes: Int?
    /// Processes and threads (pids.max).
    public var tasks: Int?
    /// CPU time as a percentage of one CPU (v2 cpu.max, v1 cpu.cfs_quota_us).
    public var cpuPercent: Int?

    public init(memoryBytes: Int? = nil, tasks: Int? = nil, cpuPercent: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.tasks = tasks
        self.cpuPercent = cpuPercent
    }

    public var isEmpty: Bool { memoryBytes == nil && tasks == nil && cpuPercent == nil }

    /// The controllers these limits need.
    var controllers: [String] {
        var names: [String] = []
        if memoryBytes != nil { names.append("memory") }
        if tasks != nil { names.append("pids") }
        if cpuPercent != nil { names.append("cpu") }
        return names
    }
}

/// Every process of one run, however it was started: its own session,
/// `setsid`, double forks. The agent signals them, waits for all of them to
/// be gone before a run ends, and kills them when it stops the run.
public protocol RunProcessSet: AnyObject {
    /// cgroup.procs files the child joins before exec (none for a set that
    /// does not use cgroups). Closed by `spawned`.
    var procsFiles: [FileDescriptor] { get }
    /// The run's first process has started (`pid` leads its own session and
    /// process group).
    func spawned(pid: Int32)
    /// Sends `signal` to every process of the run.
    func signal(_ signal: Int32)
    /// SIGKILL for every process of the run, at once where the kernel can.
    func kill()
    /// Whether no process of the run is left (zombies waiting to be reaped
    /// count as gone).
    var isEmpty: Bool { get }
    /// The run is over: give back what the set holds (cgroup directories).
    func release()
    /// How the set tracks processes, for the log.
    var kind: String { get }
}

/// Where this machine lets the agent create cgroups, read once from
/// /proc/self/mountinfo: a cgroup2 hierarchy for tracking (cgroup.procs,
/// cgroup.events, cgroup.kill) at /sys/fs/cgroup (the unified layout of
/// current distributions) or /sys/fs/cgroup/unified (the hybrid layout), and
/// cgroup v1 controllers for the limits the v2 hierarchy cannot enforce
/// (see cgroups(7), Documentation/admin-guide/cgroup-v2.rst).
public struct CgroupLayout: Sendable, Equatable {
    /// The cgroup2 mount point, if there is a writable one.
    public var unified: String?
    /// Controllers the cgroup2 root offers (its cgroup.controllers).
    public var unifiedControllers: Set<String>
    /// cgroup v1 mount points by controller name.
    public var v1: [String: String]

    /// The directory under each hierarchy that holds the runs' cgroups.
    public static let parentName = "pmdapipe.runs"

    public init(unified: String?, unifiedControllers: Set<String>, v1: [String: String]) {
        self.unified = unified
        self.unifiedControllers = unifiedControllers
        self.v1 = v1
    }

    /// What this machine has.
    /// The corresponding files are /proc/self/mountinfo and cgroup.controllers.
    public static func detect() -> CgroupLayout {
        var unified: String?
        var v1: [String: String] = [:]
        let text = Files.contents("/proc/self/mountinfo").map { String(decoding: $0, as: UTF8.self) } ?? ""
        for line in text.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS
            let halves = line.split(separator: " - ", maxSplits: 1).map(String.init)
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard fields.count >= 6, tail.count >= 3 else { continue }
            let mountPoint = String(fields[4])
            let options = fields[5]
            guard options.split(separator: ",").contains("rw") else { continue }
            if tail[0] == "cgroup2", unified == nil {
                unified = mountPoint
            } else if tail[0] == "cgroup" {
                for option in tail[2].split(separator: ",") where ["memory", "pids", "cpu"].contains(option) {
                    v1[String(option)] = mountPoint
                }
            }
        }
        var controllers: Set<String> = []
        if let unified, let bytes = Files.contents(unified + "/cgroup.controllers") {
            controllers = Set(
                String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
                    .map(String.init))
        }
        return CgroupLayout(unified: unified, unifiedControllers: controllers, v1: v1)
    }

    /// Whether a run's processes can be tracked with cgroups here.
    public var canTrack: Bool { unified != nil }

    /// Why `limits` cannot be enforced here, or nil when they can.
    public func unsupported(_ limits: RunResourceLimits) -> String? {
        let missing = limits.controllers.filter { !unifiedControllers.contains($0) && v1[$0] == nil }
        guard !missing.isEmpty else { return nil }
        return "this machine offers no cgroup \(missing.joined(separator: ", ")) controller for the run's limits"
    }
}

/// A run's processes as cgroups: one under the cgroup2 hierarchy for
/// tracking and killing, plus, for limits the cgroup2 hierarchy has no
/// controller for, one under each cgroup v1 controller.
public final class CgroupProcessSet: RunProcessSet {
    public private(set) var procsFiles: [FileDescriptor]
    /// The cgroup2 directory.
    public let path: String
    /// Every directory created, the cgroup2 one first.
    private let directories: [String]

    public var kind: String { "cgroup \(path)" }

    /// Creates the run's cgroups named `name` with `limits` applied, and
    /// opens their cgroup.procs files for the child to join.
    /// The corresponding C calls are mkdir(2), open(2), write(2).
    public init(name: String, layout: CgroupLayout, limits: RunResourceLimits) throws(SystemError) {
        guard let unified = layout.unified else {
            throw SystemError(operation: "create a cgroup for \(name) (no cgroup2 hierarchy)", errno: ENOENT)
        }
        var created: [String] = []
        var files: [FileDescriptor] = []
        func cleanUp() {
            for file in files { file.close() }
            for directory in created.reversed() { rmdir(directory) }
        }
        do throws(SystemError) {
            let parent = unified + "/" + CgroupLayout.parentName
            try Self.makeDirectory(parent)
            var v2Controllers = limits.controllers.filter { layout.unifiedControllers.contains($0) }
            if !v2Controllers.isEmpty {
                // Controllers must be enabled in the parent for its children
                // (the parent itself holds no process, as cgroup v2 requires).
                let enable = v2Controllers.map { "+" + $0 }.joined(separator: " ")
                if (try? Self.write(enable, to: parent + "/cgroup.subtree_control")) == nil { v2Controllers = [] }
            }
            let path = parent + "/" + name
            try Self.makeDirectory(path, fresh: true)
            created.append(path)
            files.append(try Self.openForWriting(path + "/cgroup.procs"))
            if let bytes = limits.memoryBytes, v2Controllers.contains("memory") {
                try Self.write(String(bytes), to: path + "/memory.max")
                try? Self.write("0", to: path + "/memory.swap.max")
            }
            if let tasks = limits.tasks, v2Controllers.contains("pids") {
                try Self.write(String(tasks), to: path + "/pids.max")
            }
            if let percent = limits.cpuPercent, v2Controllers.contains("cpu") {
                try Self.write("\(percent * 1000) 100000", to: path + "/cpu.max")
            }
            for controller in limits.controllers where !v2Controllers.contains(controller) {
                guard let mount = layout.v1[controller] else {
                    throw SystemError(operation: "limit \(name) (no \(controller) controller)", errno: ENOENT)
                }
                let parentV1 = mount + "/" + CgroupLayout.parentName
                try Self.makeDirectory(parentV1)
                let directory = parentV1 + "/" + name
                try Self.makeDirectory(directory, fresh: true)
                created.append(directory)
                switch controller {
                case "memory":
                    try Self.write(String(limits.memoryBytes ?? 0), to: directory + "/memory.limit_in_bytes")
                case "pids":
                    try Self.write(String(limits.tasks ?? 0), to: directory + "/pids.max")
                case "cpu":
                    try Self.write("100000", to: directory + "/cpu.cfs_period_us")
                    try Self.write(String((limits.cpuPercent ?? 100) * 1000), to: directory + "/cpu.cfs_quota_us")
                default:
                    break
                }
                files.append(try Self.openForWriting(directory + "/cgroup.procs"))
            }
            self.path = path
            self.directories = created
            self.procsFiles = files
        } catch {
            cleanUp()
            throw error
        }
    }

    public func spawned(pid: Int32) {
        for file in procsFiles { file.close() }
        procsFiles = []
    }

    /// The processes in the run's cgroup2 directory now.
    public var pids: [Int32] { Self.processIDs(in: path) }

    /// The pids listed in `directory`/cgroup.procs (none if unreadable).
    private static func processIDs(in directory: String) -> [Int32] {
        guard let bytes = Files.contents(directory + "/cgroup.procs") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
    }

    public func signal(_ signal: Int32) {
        // A process may fork while we go through the list; SIGTERM reaching
        // most of a group is what a teardown's first step needs, and its
        // last step is `kill`, which the kernel does atomically.
        for pid in pids where pid > 1 { Glibc.kill(pid, signal) }
    }

    public func kill() {
        if (try? Self.write("1", to: path + "/cgroup.kill")) != nil { return }
        // Kernels before 5.14 have no cgroup.kill: kill until the list stays empty.
        for _ in 0..<16 {
            let current = pids
            if current.isEmpty { return }
            for pid in current where pid > 1 { Glibc.kill(pid, SIGKILL) }
        }
    }

    public var isEmpty: Bool {
        if let bytes = Files.contents(path + "/cgroup.events") {
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("populated 0") { return true }
            if text.contains("populated 1") { return false }
        }
        return pids.isEmpty
    }

    public func release() {
        for file in procsFiles { file.close() }
        procsFiles = []
        for directory in directories.reversed() { rmdir(directory) }
    }

    /// Leftovers of an agent that died: runs' cgroups still under the
    /// parent directories. Their processes are killed and the directories
    /// removed, so nothing an earlier agent started keeps running unseen.
    /// Every cgroup is killed first, then all are waited for together, at
    /// most about 1 s in all however many there are: this runs after the
    /// agent connected to pmcd, which waits 5 s for an answer.
    /// Returns how many processes were killed.
    @discardableResult
    public static func removeLeftovers(layout: CgroupLayout) -> Int {
        var killed = 0
        var parents: [String] = []
        if let unified = layout.unified { parents.append(unified + "/" + CgroupLayout.parentName) }
        for mount in Set(layout.v1.values) { parents.append(mount + "/" + CgroupLayout.parentName) }
        var busy: [String] = []
        for parent in parents {
            guard let names = try? Files.names(in: parent) else { continue }
            for name in names where name.hasPrefix("run-") {
                let directory = parent + "/" + name
                var info = stat()
                guard lstat(directory, &info) == 0, info.isDirectory else { continue }
                let pids = processIDs(in: directory).filter { $0 > 1 }
                killed += pids.count
                if (try? write("1", to: directory + "/cgroup.kill")) == nil {
                    for pid in pids { Glibc.kill(pid, SIGKILL) }
                }
                busy.append(directory)
            }
        }
        for _ in 0..<50 {
            busy.removeAll { rmdir($0) == 0 || Glibc.errno != EBUSY }
            if busy.isEmpty { break }
            usleep(20_000)
            // cgroup v1 has no cgroup.kill: a process that forked a successor
            // before its SIGKILL landed is in cgroup.procs now; kill again.
            for directory in busy where access(directory + "/cgroup.kill", F_OK) != 0 {
                for pid in processIDs(in: directory) where pid > 1 {
                    Glibc.kill(pid, SIGKILL)
                }
            }
        }
        return killed
    }

    // MARK: - Files

    private static func makeDirectory(_ path: String, fresh: Bool = false) throws(SystemError) {
        if mkdir(path, 0o755) == 0 { return }
        let code = Glibc.errno
        if code == EEXIST && !fresh { return }
        throw SystemError(operation: "mkdir \(path)", errno: code)
    }

    private static func openForWriting(_ path: String) throws(SystemError) -> FileDescriptor {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw lastError("open \(path)") }
        return FileDescriptor(rawValue: fd)
    }

    static func write(_ text: String, to path: String) throws(SystemError) {
        let fd = try openForWriting(path)
        defer { fd.close() }
        var bytes = Array(text.utf8)
        let written = bytes.withUnsafeMutableBytes { Glibc.write(fd.rawValue, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw lastError("write \(text) to \(path)") }
    }
}

/// The fallback where no cgroup can be made: the run's process group and
/// session, plus every process descended from one of the run's processes,
/// found by walking /proc. Orphans re-parented to the agent (it is a child
/// subreaper) stay known once seen. Weaker than a cgroup: a process that
/// leaves the session and whose parent exits before the agent has looked is
/// not seen; the README says so.
public final class DescendantProcessSet: RunProcessSet {
    private var leader: Int32 = 0
    private var known: Set<Int32> = []

    public init() {}

    public var procsFiles: [FileDescriptor] { [] }
    public var kind: String { "process group \(leader) and its descendants" }

    public func spawned(pid: Int32) {
        leader = pid
        known = [pid]
    }

    /// Adds every live process whose parent is known or that is in the
    /// run's process group or session; forgets the dead.
    /// The corresponding files are /proc/PID/stat.
    public func refresh() {
        guard leader > 1 else { return }
        let table = ProcessTable.read()
        var alive = known.filter { table[$0] != nil && table[$0]?.state != "Z" }
        var grew = true
        while grew {
            grew = false
            for (pid, entry) in table where !alive.contains(pid) && entry.state != "Z" {
                if alive.contains(entry.ppid) || entry.pgid == leader || entry.sid == leader {
                    alive.insert(pid)
                    grew = true
                }
            }
        }
        known = alive
    }

    public func signal(_ signal: Int32) {
        refresh()
        if leader > 1 { killpg(leader, signal) }
        for pid in known where pid > 1 { Glibc.kill(pid, signal) }
    }

    public func kill() { signal(SIGKILL) }

    public var isEmpty: Bool {
        refresh()
        return known.isEmpty
    }

    public func release() { known = [] }
}

/// One scan of /proc: state, parent, process group and session of each process.
enum ProcessTable {
    struct Entry {
        var state: Character
        var ppid: Int32
        var pgid: Int32
        var sid: Int32
    }

    static func read() -> [Int32: Entry] {
        var table: [Int32: Entry] = [:]
        guard let names = try? Files.names(in: "/proc") else { return table }
        for name in names {
            guard let pid = Int32(name), let stat = ProcessInfoProbe.stat(of: pid) else { continue }
            table[pid] = Entry(state: stat.state, ppid: stat.parent, pgid: stat.processGroup, sid: stat.session)
        }
        return table
    }
}
