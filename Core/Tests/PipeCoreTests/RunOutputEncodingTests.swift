import Testing
import PipeCore

/// `RunOutput.encodeBatch` (what the agent sends: the queue's stored records
/// copied as a block, flags patched) must say exactly what `takeBatch` (the
/// record-by-record description the other tests check) says. Random runs
/// feed both the same output and the same fetch limits, step by step.
@Suite struct RunOutputEncodingTests {
    static let ids = EventFormat.placeholder.parameters
    static let reason = "exited"

    /// What `takeBatch`'s records look like once encoded.
    static func expected(_ record: OutputRecord) -> ReadRecord {
        let seconds = Int32(truncatingIfNeeded: record.time.seconds)
        var result = ReadRecord(seconds: seconds, microseconds: record.time.microseconds,
                                flags: record.flags.rawValue, nparams: 0, parameters: [])
        func parameter(_ pmid: UInt32, _ type: UInt32, _ value: [UInt8]) -> ReadParameter {
            ReadParameter(pmid: pmid, type: type, value: value,
                          padding: [UInt8](repeating: 0, count: (4 - value.count % 4) % 4))
        }
        switch record.payload {
        case .missed(let count):
            return ReadRecord(seconds: seconds, microseconds: record.time.microseconds,
                              flags: EventRecordLayout.missedFlag, nparams: Int32(count), parameters: [])
        case .line(let bytes, let stream, let continued, let containsNUL):
            let pmid = switch (stream, containsNUL) {
            case (.stdout, false): ids.line
            case (.stderr, false): ids.errline
            case (.stdout, true): ids.rawline
            case (.stderr, true): ids.rawerrline
            }
            result.parameters.append(parameter(pmid, containsNUL ? 7 : 6, Array(bytes)))
            if continued { result.parameters.append(parameter(ids.continued, 1, [1, 0, 0, 0])) }
        case .none:
            break
        }
        if let termination = record.termination {
            let status = UInt32(bitPattern: termination.shellStatus)
            result.parameters.append(parameter(ids.exitstatus, 0, withUnsafeBytes(of: status) { Array($0) }))
            result.parameters.append(parameter(ids.endreason, 6, Array(reason.utf8)))
        }
        result.nparams = Int32(result.parameters.count)
        return result
    }

    @Test(arguments: [(OverflowPolicy.block, 1 << 20), (.drop, 300), (.drop, 64)])
    func encodedBatchesMatchTakeBatch(policy: OverflowPolicy, capacity: Int) {
        let writer = EventArrayWriter(layout: .rightToLeft, initialCapacity: 64)
        for seed in 1...40 {
            var rng = SplitMix64(state: UInt64(seed))
            var run = RunOutput(queueCapacity: capacity, policy: policy, maxLineLength: 256)
            var finished = false
            var steps = 0
            while run.phase != .delivered && steps < 400 {
                steps += 1
                let roll = Int.random(in: 0..<100, using: &rng)
                if !finished && roll < 55 {
                    var chunk: [UInt8] = []
                    for _ in 0..<Int.random(in: 0...6, using: &rng) {
                        let length = [0, 1, 3, 4, 5, 8, 40, 300, 700][Int.random(in: 0..<9, using: &rng)]
                        for _ in 0..<length {
                            chunk.append(Int.random(in: 0..<50, using: &rng) == 0 ? 0 : UInt8.random(in: 0x20...0x7E, using: &rng))
                        }
                        chunk += Int.random(in: 0..<5, using: &rng) == 0 ? [0x0D, 0x0A] : [0x0A]
                    }
                    if Int.random(in: 0..<4, using: &rng) == 0 { chunk.removeLast(min(chunk.count, 3)) }
                    let stream: StreamKind = Int.random(in: 0..<4, using: &rng) == 0 ? .stderr : .stdout
                    let time = stamp(Int64(steps), Int32(seed))
                    chunk.withUnsafeBytes { run.ingest($0, from: stream, at: time) }
                } else if !finished && roll < 60 {
                    let termination: Termination = Bool.random(using: &rng) ? .exited(code: 3) : .signaled(signal: 9)
                    run.finish(termination, at: stamp(Int64(steps), 999))
                    finished = true
                } else {
                    let maxRecords = Int.random(in: 1...8, using: &rng)
                    let maxBytes = Int.random(in: 0...900, using: &rng)
                    var described = run
                    var encoded = run
                    var want: [ReadRecord] = []
                    described.takeBatch(maxRecords: maxRecords, maxBytes: maxBytes) { want.append(Self.expected($0)) }
                    writer.reset()
                    let added = writer.encode {
                        encoded.encodeBatch(into: &$0, maxRecords: maxRecords, maxBytes: maxBytes, endReason: Self.reason)
                    }
                    let got = readEventArray(writer.finish()).records
                    #expect(added == want.count)
                    #expect(got == want, "seed \(seed) step \(steps)")
                    #expect(encoded.phase == described.phase)
                    #expect(encoded.queue.count == described.queue.count)
                    if got != want { return }
                    run = encoded
                }
            }
            if !finished {
                run.finish(.exited(code: 0), at: stamp(1000))
            }
            // Drain to the end through the encoder alone: it must deliver.
            var rounds = 0
            while run.phase != .delivered && rounds < 10_000 {
                rounds += 1
                writer.reset()
                writer.encode { _ = run.encodeBatch(into: &$0, maxRecords: 5, maxBytes: 500, endReason: Self.reason) }
            }
            #expect(run.phase == .delivered)
        }
    }
}
