// The output the benchmarks feed through the hot path, made once, and the
// agent's settings they use, so a number here means the same as in the agent.

import Benchmark
import PipeCore

/// The agent reads a command's pipe 64 KiB at a time (`Settings.readChunk`).
let readChunk = 64 << 10
/// The default per-client queue (`Settings.defaultQueueCapacity`, `-m`).
let queueCapacity = 2 << 20
/// The default `max_line_length`.
let maxLineLength = InstanceOptions().maxLineLength
/// Every line gets this time; the value does not matter to the cost.
let readTime = Timestamp(seconds: 1_800_000_000, microseconds: 0)

/// One command's output, with what a consumer of it must see.
struct Output {
    let name: String
    let bytes: [UInt8]
    let lines: Int

    /// What `seq 1 count` prints: short lines (6.9 bytes on average for a
    /// million), the bench's `b_seq` and `ratelines` output.
    static func seq(_ count: Int) -> Output {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 8)
        for n in 1...count {
            bytes.append(contentsOf: String(n).utf8)
            bytes.append(0x0A)
        }
        return Output(name: "seq 1 \(count)", bytes: bytes, lines: count)
    }

    /// `count` lines of `length` bytes plus "\n", numbered, then filler:
    /// longer than a log line, and not a divisor of the read size, so lines
    /// straddle reads and the splitter's held-back tail is exercised.
    static func long(_ count: Int, length: Int) -> Output {
        let filler = Array("the quick brown fox jumps over the lazy dog ".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * (length + 1))
        for n in 1...count {
            let start = bytes.count
            bytes.append(contentsOf: String(n).utf8)
            while bytes.count - start < length {
                bytes.append(filler[(bytes.count - start) % filler.count])
            }
            bytes.append(0x0A)
        }
        return Output(name: "\(count) lines of \(length) B", bytes: bytes, lines: count)
    }

    /// Where each line starts and ends (without its "\n").
    var lineRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(lines)
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            ranges.append(start..<index)
            start = index + 1
        }
        return ranges
    }
}

extension BenchmarkMetric {
    /// Lines through the measured code per second of wall-clock time.
    static var linesPerSecond: BenchmarkMetric {
        .custom("lines/s", polarity: .prefersLarger, useScalingFactor: false)
    }
    /// Bytes of command output (newlines included) through it, in 10^6 per second.
    static var megabytesPerSecond: BenchmarkMetric {
        .custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
    }
}

/// Times `work` (one pass over `output`) and records its rates, lines/s and
/// MB/s, next to the harness's own wall-clock time.
func measureRates(_ benchmark: Benchmark, _ output: Output, _ work: () -> Void) {
    let clock = ContinuousClock()
    let start = clock.now
    work()
    let elapsed = start.duration(to: clock.now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    benchmark.measurement(.linesPerSecond, Int(Double(output.lines) / seconds))
    benchmark.measurement(.megabytesPerSecond, Int(Double(output.bytes.count) / seconds / 1e6))
}
