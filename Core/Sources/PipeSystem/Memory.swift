import CPipeSpawn
import Glibc

/// The process's memory, as the C library and the kernel manage it.
public enum Memory {
    /// Gives free heap pages back to the system (malloc_trim). A burst of
    /// output can leave megabytes of freed queue memory in malloc's arenas;
    /// calling this when the agent goes idle keeps its resident size small.
    /// The corresponding C call is malloc_trim(3).
    @discardableResult
    public static func releaseFreePages() -> Bool {
        pipe_malloc_trim() == 1
    }

    /// Fixes malloc's thresholds: blocks below `mmapThreshold` bytes come
    /// from the heap rather than their own mmap, and freed memory at the top
    /// of the heap is given back only past `trimThreshold` bytes. A process
    /// that frees and mallocs the same big buffers over and over (pmpipe:
    /// libpcp's PDU buffers) then reuses mapped pages instead of faulting in
    /// fresh zeroed ones each time; one whose big blocks must go back to the
    /// system as soon as they are freed (the agent's arenas for max_line-sized
    /// lines) gets them mapped alone. Fixing either turns off glibc's dynamic
    /// adjustment of both (mallopt(3): without it, freeing one 16 MiB block
    /// raises the mmap threshold so later ones fragment the heap instead).
    /// Returns whether the C library took both.
    /// The corresponding C call is mallopt(3) with M_MMAP_THRESHOLD and
    /// M_TRIM_THRESHOLD.
    @discardableResult
    public static func keepFreedHeapMapped(mmapThreshold: Int32, trimThreshold: Int32) -> Bool {
        pipe_malloc_thresholds(mmapThreshold, trimThreshold) == 1
    }

    /// Unmaps the clean pages of the program's own file mappings (its code
    /// and read-only data) from this process, with madvise(MADV_DONTNEED).
    ///
    /// Why: a statically linked Swift program touches megabytes of runtime
    /// code and metadata while it starts, and the kernel maps file pages
    /// around each fault, so an idle agent would keep all of that resident.
    /// The pages stay in the page cache; whatever the agent really uses
    /// faults back in (cheaply, from memory).
    ///
    /// Only mappings of the executable with no copy-on-write page are advised
    /// (smaps' "Anonymous:" is 0): dropping a private copy, such as the
    /// relocated read-only data, would bring back the file's original bytes.
    /// ("Private_Dirty:" is no guide: it also counts page-cache pages of a
    /// freshly written binary that are not yet written back, which are safe.)
    /// Returns the number of bytes of mappings advised.
    @discardableResult
    public static func dropStartupPages() -> Int {
        guard let executable = executablePath(),
            let bytes = Files.contents("/proc/self/smaps")
        else { return 0 }
        let smaps = String(decoding: bytes, as: UTF8.self)
        var candidates: [(start: UInt, end: UInt)] = []
        var current: (start: UInt, end: UInt)?
        var currentIsClean = false  // no copy-on-write page
        func finish() {
            if let current, currentIsClean { candidates.append(current) }
            current = nil
        }
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                finish()
                // A mapping header: "start-end perms offset dev inode [path]".
                guard fields.count >= 6, fields[5] == executable,
                    fields[1] == "r-xp" || fields[1] == "r--p"
                else { continue }
                let range = first.split(separator: "-")
                if range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                    end > start
                {
                    current = (start, end)
                    currentIsClean = true
                }
            } else if current != nil, fields.first == "Anonymous:", fields.count >= 2, fields[1] != "0" {
                currentIsClean = false
            }
        }
        finish()
        var advised = 0
        for mapping in candidates {
            guard let address = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            let length = Int(mapping.end - mapping.start)
            if madvise(address, length, MADV_DONTNEED) == 0 { advised += length }
        }
        return advised
    }

    private static func executablePath() -> Substring? { Files.linkTarget("/proc/self/exe").map { Substring($0) } }
}
