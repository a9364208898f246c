import CPCP
import PipeCore
import Testing

/// The agent writes event arrays itself (EventArrayWriter) instead of through
/// libpcp_pmda's pmdaEventAddRecord/pmdaEventAddParam. These tests build the
/// same records both ways and require the same bytes, so a layout mistake
/// cannot hide behind our own reader. libpcp leaves padding bytes
/// uninitialised, so padding is compared only on our side (zero).
/// Serialized: libpcp_pmda keeps its event arrays in process-wide tables
/// without locking, so the cases must not run at the same time.
@Suite(.serialized) struct EventArrayCompatibilityTests {
    struct Line {
        var seconds: Int32
        var microseconds: Int32
        var flags: UInt32
        var bytes: [UInt8]
        var aggregate = false
        var continued = false
        var noeol = false
        var exit: (status: Int32, reason: String)?
    }

    static let samples: [Line] = [
        Line(seconds: 1_700_000_000, microseconds: 1, flags: 2, bytes: Array("1".utf8)),
        Line(seconds: 1_700_000_000, microseconds: 2, flags: 1, bytes: []),
        Line(seconds: 1_700_000_001, microseconds: 3, flags: 1, bytes: Array("abcd".utf8)),
        Line(seconds: 1_700_000_001, microseconds: 4, flags: 1, bytes: Array("hello, world".utf8), continued: true),
        Line(
            seconds: 1_700_000_002, microseconds: 5, flags: 1, bytes: [0x61, 0x00, 0x62, 0xFF, 0xFE], aggregate: true),
        Line(seconds: 1_700_000_002, microseconds: 6, flags: 1, bytes: Array("dos\r".utf8)),
        Line(seconds: 1_700_000_002, microseconds: 7, flags: 1, bytes: Array("no newline\r".utf8), noeol: true),
        Line(
            seconds: 1_700_000_003, microseconds: 999_999, flags: 5, bytes: Array("last".utf8),
            exit: (status: 137, reason: "killed by signal 9 (time limit 1s)")),
    ]

    /// Parameter PMIDs as pmdaInit would make them for domain 128.
    let line = pmID(128 << 22 | 1), raw = pmID(128 << 22 | 3), continued = pmID(128 << 22 | 5)
    let status = pmID(128 << 22 | 6), reason = pmID(128 << 22 | 7), noeol = pmID(128 << 22 | 8)

    func withLibpcpArray(_ lines: [Line], missedFirst: Int32?, _ body: (UnsafeRawBufferPointer) -> Void) {
        let array = pmdaEventNewArray()
        #expect(array >= 0)
        defer { pmdaEventReleaseArray(array) }
        if let missed = missedFirst {
            var time = timeval(tv_sec: 1_699_999_999, tv_usec: 5)
            #expect(pmdaEventAddMissedRecord(array, &time, missed) == 0)
        }
        for sample in lines {
            var time = timeval(tv_sec: Int(sample.seconds), tv_usec: Int(sample.microseconds))
            #expect(pmdaEventAddRecord(array, &time, Int32(bitPattern: sample.flags)) == 0)
            var atom = pmAtomValue()
            if sample.aggregate {
                let size = Int(PM_VAL_HDR_SIZE) + sample.bytes.count
                let block = UnsafeMutableRawPointer.allocate(byteCount: max(size, 8), alignment: 8)
                defer { block.deallocate() }
                cpcp_valueblock_set_header(
                    block.assumingMemoryBound(to: pmValueBlock.self),
                    PM_TYPE_AGGREGATE, Int32(size))
                sample.bytes.withUnsafeBytes { (block + 4).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                atom.vbp = block.assumingMemoryBound(to: pmValueBlock.self)
                #expect(pmdaEventAddParam(array, raw, PM_TYPE_AGGREGATE, &atom) == 0)
            } else {
                (sample.bytes + [0]).withUnsafeBytes { text in
                    atom.cp = UnsafeMutablePointer(mutating: text.baseAddress!.assumingMemoryBound(to: CChar.self))
                    #expect(pmdaEventAddParam(array, line, PM_TYPE_STRING, &atom) == 0)
                }
            }
            if sample.continued {
                atom.ul = 1
                #expect(pmdaEventAddParam(array, continued, PM_TYPE_U32, &atom) == 0)
            }
            if sample.noeol {
                atom.ul = 1
                #expect(pmdaEventAddParam(array, noeol, PM_TYPE_U32, &atom) == 0)
            }
            if let exit = sample.exit {
                atom.l = exit.status
                #expect(pmdaEventAddParam(array, status, PM_TYPE_32, &atom) == 0)
                exit.reason.withCString { text in
                    atom.cp = UnsafeMutablePointer(mutating: text)
                    #expect(pmdaEventAddParam(array, reason, PM_TYPE_STRING, &atom) == 0)
                }
            }
        }
        let address = UnsafeRawPointer(pmdaEventGetAddr(array)!)
        let length = Int(cpcp_valueblock_vlen(address.assumingMemoryBound(to: pmValueBlock.self)))
        body(UnsafeRawBufferPointer(start: address, count: length))
    }

    func ourArray(_ lines: [Line], missedFirst: Int32?, writer: EventArrayWriter) -> UnsafeRawBufferPointer {
        writer.reset()
        writer.encode { array in
            if let missed = missedFirst {
                array.addMissedRecord(seconds: 1_699_999_999, microseconds: 5, count: missed)
            }
            for sample in lines {
                array.beginRecord(seconds: sample.seconds, microseconds: sample.microseconds, flags: sample.flags)
                sample.bytes.withUnsafeBytes {
                    array.addBytes(
                        $0, pmid: sample.aggregate ? raw : line, type: sample.aggregate ? .aggregate : .string)
                }
                if sample.continued { array.addInteger(1, pmid: continued, type: .uint32) }
                if sample.noeol { array.addInteger(1, pmid: noeol, type: .uint32) }
                if let exit = sample.exit {
                    array.addInteger(UInt32(bitPattern: exit.status), pmid: status, type: .int32)
                    array.addString(exit.reason, pmid: reason)
                }
            }
        }
        return writer.finish()
    }

    /// Byte ranges that are padding (after each parameter's value).
    func paddingRanges(_ array: UnsafeRawBufferPointer, layout: TypeLengthLayout) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = 8
        for _ in 0..<Int(array.loadUnaligned(fromByteOffset: 4, as: Int32.self)) {
            let flags = array.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let nparams = Int(array.loadUnaligned(fromByteOffset: offset + 12, as: Int32.self))
            offset += 16
            guard flags != EventRecordLayout.missedFlag else { continue }
            for _ in 0..<nparams {
                let length = layout.length(of: array.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                let end = offset + 4 + length
                let padded = offset + 4 + ((length + 3) & ~3)
                ranges.append(end..<padded)
                offset = padded
            }
        }
        return ranges
    }

    @Test(arguments: [nil, Int32(3)])
    func sameBytesAsLibpcpPmda(missedFirst: Int32?) {
        let layout = TypeLengthLayout { cpcp_param_word($0, $1) }
        let writer = EventArrayWriter(layout: layout, initialCapacity: 64)
        let ours = ourArray(Self.samples, missedFirst: missedFirst, writer: writer)
        withLibpcpArray(Self.samples, missedFirst: missedFirst) { theirs in
            #expect(ours.count == theirs.count)
            guard ours.count == theirs.count else { return }
            let padding = paddingRanges(ours, layout: layout)
            #expect(padding == paddingRanges(theirs, layout: layout))
            var mismatches: [Int] = []
            for index in 0..<ours.count where ours[index] != theirs[index] {
                if !padding.contains(where: { $0.contains(index) }) { mismatches.append(index) }
            }
            #expect(mismatches.isEmpty, "bytes differ at offsets \(mismatches.prefix(10))")
            for range in padding {
                #expect(ours[range].allSatisfy { $0 == 0 }, "our padding is zeroed")
            }
        }
    }
}

/// PipeCore spells the layout out for the pure encoder and decoder; here it
/// meets PCP's own structs and macros.
@Suite struct EventRecordLayoutTests {
    @Test func offsetsAndSizesAreLibpcpsStructs() {
        #expect(MemoryLayout<pmEventArray>.offset(of: \.ea_nrecords) == EventRecordLayout.recordCountOffset)
        #expect(MemoryLayout<pmEventArray>.offset(of: \.ea_record) == EventRecordLayout.arrayHeaderSize)
        #expect(MemoryLayout<pmEventRecord>.offset(of: \.er_timestamp) == EventRecordLayout.secondsOffset)
        #expect(MemoryLayout<pmTimeval>.offset(of: \.tv_usec) == EventRecordLayout.microsecondsOffset)
        #expect(MemoryLayout<pmEventRecord>.offset(of: \.er_flags) == EventRecordLayout.flagsOffset)
        #expect(MemoryLayout<pmEventRecord>.offset(of: \.er_nparams) == EventRecordLayout.parameterCountOffset)
        #expect(MemoryLayout<pmEventRecord>.offset(of: \.er_param) == EventRecordLayout.recordHeaderSize)
        #expect(MemoryLayout<pmEventParameter>.size == EventRecordLayout.parameterHeaderSize)
        #expect(Int(PM_VAL_HDR_SIZE) == EventRecordLayout.parameterLengthOverhead)
    }

    @Test func flagsAndTypeArePCPsValues() {
        #expect(EventRecordLayout.pointFlag == cpcp_EVENT_FLAG_POINT)
        #expect(EventRecordLayout.startFlag == cpcp_EVENT_FLAG_START)
        #expect(EventRecordLayout.endFlag == cpcp_EVENT_FLAG_END)
        #expect(EventRecordLayout.idFlag == cpcp_EVENT_FLAG_ID)
        #expect(EventRecordLayout.parentFlag == cpcp_EVENT_FLAG_PARENT)
        #expect(EventRecordLayout.missedFlag == cpcp_EVENT_FLAG_MISSED)
        #expect(EventRecordLayout.eventType == UInt32(PM_TYPE_EVENT))
        #expect(EventValueType.int32.rawValue == UInt32(PM_TYPE_32))
        #expect(EventValueType.uint32.rawValue == UInt32(PM_TYPE_U32))
        #expect(EventValueType.string.rawValue == UInt32(PM_TYPE_STRING))
        #expect(EventValueType.aggregate.rawValue == UInt32(PM_TYPE_AGGREGATE))
    }
}
