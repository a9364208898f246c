// Finding one byte value in a buffer, eight bytes at a time: how lines are
// split (newlines) and how lines holding NUL bytes are told apart. At
// millions of lines a second a byte-at-a-time loop shows up in a profile.

enum ByteSearch {
    /// The offset of the first `byte` in `buffer[from..<limit]`, or nil.
    @inline(__always)
    static func firstIndex(of byte: UInt8, in buffer: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        var index = from
        // Classic "has a zero byte" test on (word XOR byte repeated): exact
        // for deciding whether the word has a match.
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let pattern = UInt64(byte) &* ones
        while index + 8 <= limit {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ pattern
            let matches = (word &- ones) & ~word & highs
            if matches != 0 {
                #if _endian(little)
                    // The lowest flagged byte is exact (a false flag can only
                    // follow a true one), and on a little-endian machine it is
                    // the first in memory: no byte loop for short lines.
                    return index + matches.trailingZeroBitCount >> 3
                #else
                    break
                #endif
            }
            index += 8
        }
        while index < limit {
            if base.load(fromByteOffset: index, as: UInt8.self) == byte { return index }
            index += 1
        }
        return nil
    }

    /// Whether `bytes` holds a 0 byte.
    @inline(__always)
    static func containsZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        firstIndex(of: 0, in: bytes, from: 0, limit: bytes.count) != nil
    }
}
