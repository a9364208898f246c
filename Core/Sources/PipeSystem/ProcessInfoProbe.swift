#if canImport(Glibc)
    import Glibc
#endif

/// /proc/PID/stat readers: the one parser of that file, for the agent's
/// descendant tracking where cgroups are missing (ProcessTable) and tests.
public enum ProcessInfoProbe {
    /// The pids whose parent is `pid` (scanning /proc/<n>/stat), ascending.
    public static func children(of pid: Int32) -> [Int32] {
        guard let names = try? Files.names(in: "/proc") else { return [] }
        var result: [Int32] = []
        for name in names {
            guard let child = Int32(name), let status = stat(of: child) else { continue }
            if status.parent == pid { result.append(child) }
        }
        return result.sorted()
    }

    /// State letter, parent, process group and session of `pid` from
    /// /proc/<pid>/stat (fields 3 to 6; the command name in parentheses may
    /// itself contain spaces and parentheses, so parse after the last ')').
    public static func stat(of pid: Int32) -> (state: Character, parent: Int32, processGroup: Int32, session: Int32)? {
        guard let bytes = Files.contents("/proc/\(pid)/stat"),
            let close = bytes.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        let fields = String(decoding: bytes[(close + 1)...], as: UTF8.self).split(separator: " ")
        guard fields.count > 4, let state = fields[0].first,
            let parent = Int32(fields[1]), let group = Int32(fields[2]), let session = Int32(fields[3])
        else { return nil }
        return (state, parent, group, session)
    }

    /// Whether `pid` is gone or only a zombie awaiting its parent's wait.
    public static func isDeadOrZombie(_ pid: Int32) -> Bool {
        guard let status = stat(of: pid) else { return true }
        return status.state == "Z" || status.state == "X"
    }
}
