#if canImport(Glibc)
import Glibc
#endif

/// /proc readers, for leak tests and the agent's own metrics.
public enum ProcessInfoProbe {
    /// How many descriptors `pid` has open (entries of /proc/<pid>/fd). When
    /// `pid` is the caller, the descriptor used to list the directory is
    /// counted too; compare counts taken the same way.
    public static func openDescriptorCount(pid: Int32) -> Int? {
        try? Files.names(in: "/proc/\(pid)/fd").count
    }

    /// Resident set size in bytes (/proc/<pid>/statm, second field × page size).
    public static func residentSetBytes(pid: Int32) -> Int? {
        guard let bytes = Files.contents("/proc/\(pid)/statm") else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

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
              let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = String(decoding: bytes[(close + 1)...], as: UTF8.self).split(separator: " ")
        guard fields.count > 4, let state = fields[0].first,
              let parent = Int32(fields[1]), let group = Int32(fields[2]), let session = Int32(fields[3]) else { return nil }
        return (state, parent, group, session)
    }

    /// Whether `pid` is gone or only a zombie awaiting its parent's wait.
    public static func isDeadOrZombie(_ pid: Int32) -> Bool {
        guard let status = stat(of: pid) else { return true }
        return status.state == "Z" || status.state == "X"
    }
}
