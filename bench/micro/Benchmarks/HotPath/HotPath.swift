// The hot path, stage by stage: in the agent, splitting a read into lines,
// queueing them as encoded records and taking them out as event arrays
// (RunOutput, as the agent drives it), and encoding records one by one; in
// pmpipe, reading the fetched arrays back (EventArrayDecoder).

import Benchmark
import PipeCore

let benchmarks: @Sendable () -> Void = {
    // `baseline check` fails when the best pass (p0) is 50% slower than the
    // baseline's best, or needs one more allocation. Coarse on purpose: on
    // the shared 2-CPU virtual machine this runs on, other work doubles the
    // median from one run to the next and moves even the best pass by up to
    // half (seen: 9.5 ms and 14.6 ms for the same code). The allocation
    // count is exact (the queue's arena and the array are reused).
    let speed = BenchmarkThresholds(relative: [.p0: 50])
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .linesPerSecond, .megabytesPerSecond],
        timeUnits: .microseconds,
        warmupIterations: 2,
        maxDuration: .seconds(3),
        maxIterations: 200,
        thresholds: [.wallClock: speed, .linesPerSecond: speed, .megabytesPerSecond: speed,
                     .mallocCountTotal: BenchmarkThresholds(absolute: [.p0: 0, .p50: 0])])

    let short = Output.seq(1_000_000)
    let long = Output.long(2_000, length: 4_000)

    for output in [short, long] {
        Benchmark("LineSplitter, \(output.name)") { benchmark in
            var lines = 0
            measureRates(benchmark, output) { lines = split(output) }
            if lines != output.lines { benchmark.error("\(lines) lines, expected \(output.lines)") }
        }
    }

    for output in [short, long] {
        let writer = EventArrayWriter(layout: .rightToLeft)
        Benchmark("RunOutput ingest + encodeBatch, \(output.name)") { benchmark in
            var records = 0
            measureRates(benchmark, output) { records = deliver(output, through: writer) }
            if records != output.lines { benchmark.error("\(records) records, expected \(output.lines)") }
        }
    }

    let writer = EventArrayWriter(layout: .rightToLeft)
    let ranges = short.lineRanges
    Benchmark("EventArrayEncoder record by record, \(short.name)") { benchmark in
        measureRates(benchmark, short) { encodeOneByOne(short, ranges, into: writer) }
    }

    for output in [short, long] {
        let arrays = fetchedArrays(output)
        Benchmark("EventArrayDecoder, \(output.name)") { benchmark in
            var lines = 0
            measureRates(benchmark, output) { lines = decode(arrays) }
            if lines != output.lines { benchmark.error("\(lines) lines, expected \(output.lines)") }
        }
    }
}

// MARK: - The work measured

/// Splits the output read by read, as the agent's pipe reads hand it over.
/// Returns the number of lines.
func split(_ output: Output) -> Int {
    var splitter = LineSplitter(maxLineLength: maxLineLength)
    var lines = 0, bytes = 0
    output.bytes.withUnsafeBytes { input in
        var offset = 0
        while offset < input.count {
            let end = min(offset + readChunk, input.count)
            splitter.append(UnsafeRawBufferPointer(rebasing: input[offset..<end])) { line, end in
                if end != .continued { lines += 1 }
                bytes &+= line.count
            }
            offset = end
        }
        splitter.finish { _, end in if end != .continued { lines += 1 } }
    }
    blackHole(bytes)
    return lines
}

/// One run from first read to end record, as the agent drives it for a
/// client that fetches back to back (pmpipe draining a backlog): read while
/// the queue has room (`overflow = block`), then take one batch of the size
/// such a client gets. Returns the number of records handed out.
func deliver(_ output: Output, through writer: EventArrayWriter) -> Int {
    var run = RunOutput(queueCapacity: queueCapacity, policy: .block, maxLineLength: maxLineLength)
    let limits = BatchLimits()
    var records = 0
    output.bytes.withUnsafeBytes { input in
        var offset = 0
        while run.phase != .delivered {
            while run.wantsInput && offset < input.count {
                let end = min(offset + readChunk, input.count)
                run.ingest(UnsafeRawBufferPointer(rebasing: input[offset..<end]), from: .stdout, at: readTime)
                offset = end
            }
            if offset == input.count && run.phase == .running {
                run.finish(.exited(code: 0), at: readTime)
            }
            writer.reset()
            records += writer.encode { array in
                run.encodeBatch(into: &array, maxRecords: limits.rapidRecords, maxBytes: limits.rapidBytes,
                                endReason: "exit 0")
            }
            blackHole(writer.finish())
        }
    }
    return records
}

/// Every line as its own record with one string parameter, in arrays of a
/// rapid batch's size: the encoder's per-record path (the queue stores
/// records with the same code, and a fetch copies them as one block).
func encodeOneByOne(_ output: Output, _ ranges: [Range<Int>], into writer: EventArrayWriter) {
    let batch = BatchLimits().rapidRecords
    output.bytes.withUnsafeBytes { input in
        var next = 0
        while next < ranges.count {
            let end = min(next + batch, ranges.count)
            writer.reset()
            writer.encode { array in
                for range in ranges[next..<end] {
                    array.beginRecord(seconds: 1_800_000_000, microseconds: 0, flags: 1)
                    array.addBytes(UnsafeRawBufferPointer(rebasing: input[range]), pmid: 1, type: .string)
                }
            }
            blackHole(writer.finish())
            next = end
        }
    }
}

/// The arrays pmpipe would fetch for `output` (rapid batches), copied out.
func fetchedArrays(_ output: Output) -> [[UInt8]] {
    var run = RunOutput(queueCapacity: output.bytes.count + 16 * output.lines, policy: .block,
                        maxLineLength: maxLineLength)
    output.bytes.withUnsafeBytes { run.ingest($0, from: .stdout, at: readTime) }
    run.finish(.exited(code: 0), at: readTime)
    let writer = EventArrayWriter(layout: .rightToLeft)
    let limits = BatchLimits()
    var arrays: [[UInt8]] = []
    while run.phase != .delivered {
        writer.reset()
        writer.encode { array in
            _ = run.encodeBatch(into: &array, maxRecords: limits.rapidRecords, maxBytes: limits.rapidBytes,
                                endReason: "exit 0")
        }
        arrays.append(Array(writer.finish()))
    }
    return arrays
}

/// What pmpipe's printer does per record minus the write: take a stdout
/// line's bytes. Returns the number of lines.
struct LineCounter: EventRecordHandler {
    var lines = 0
    var bytes = 0

    @inline(__always)
    mutating func handle(_ record: EventRecord) {
        guard record.parameterCount > 0 else { return }
        let parameter = record.firstParameter
        if parameter.pmid == EventFormat.placeholder.parameters.line {
            lines += 1
            bytes &+= parameter.value.count
        }
    }
}

/// Decodes every array, as pmpipe does after each fetch.
func decode(_ arrays: [[UInt8]]) -> Int {
    var counter = LineCounter()
    for array in arrays {
        array.withUnsafeBytes { bytes in
            do {
                try EventArrayDecoder.decode(bytes, layout: .rightToLeft, into: &counter)
            } catch {
                fatalError("the decoder refused the encoder's array: \(error)")
            }
        }
    }
    blackHole(counter.bytes)
    return counter.lines
}
