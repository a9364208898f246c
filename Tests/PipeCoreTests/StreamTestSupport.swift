// Helpers shared by the stream tests (line splitting, queues, run output).
// Names are specific so they cannot clash with other suites' helpers.
import PipeCore

/// A small seeded generator (SplitMix64), so random chunkings are
/// reproducible: a failure names its seed.
struct SeededStreamRNG: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func bytesOf(_ text: String) -> [UInt8] { Array(text.utf8) }

func textOf(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func stamp(_ seconds: Int64, _ microseconds: Int32 = 0) -> Timestamp {
    Timestamp(seconds: seconds, microseconds: microseconds)
}
