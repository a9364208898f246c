import PipeSystem

/// glibc malloc settings for pmpipe's fetch loop.
///
/// libpcp receives every fetch into a freshly malloc'd PDU buffer (up to
/// about 2 MiB each while a command streams at full speed) and frees it with
/// the pmResult. glibc's defaults serve such a block with mmap, or, once its
/// dynamic threshold has moved up, from the top of the heap, which it trims
/// (brk down) as soon as the block is freed. Either way each fetch faults in
/// and zeroes fresh pages: measured at about a sixth of pmpipe's CPU time.
/// Fixed thresholds keep the buffers in the heap and the freed pages mapped,
/// so the next fetch reuses them; the price is a few MiB kept resident for
/// the life of the run.
enum HeapTuning {
    /// Blocks below this come from the heap (well above libpcp's largest
    /// PDU buffers; glibc caps the setting at 32 MiB on 64-bit).
    static let mmapThreshold: Int32 = 16 << 20
    /// Free memory at the top of the heap kept mapped before trimming.
    static let trimThreshold: Int32 = 64 << 20

    /// Best effort: if the C library refuses, only speed suffers.
    static func keepFetchBuffersMapped() {
        Memory.keepFreedHeapMapped(mmapThreshold: mmapThreshold, trimThreshold: trimThreshold)
    }
}
