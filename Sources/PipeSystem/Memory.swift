import CPipeSpawn

/// The process's heap, as the C library manages it.
public enum Memory {
    /// Gives free heap pages back to the system (malloc_trim). A burst of
    /// output can leave megabytes of freed queue memory in malloc's arenas;
    /// calling this when the agent goes idle keeps its resident size small.
    /// The corresponding C call is malloc_trim(3).
    @discardableResult
    public static func releaseFreePages() -> Bool {
        pipe_malloc_trim() == 1
    }
}
