import PipeCore
import Testing

/// Builds arrays byte by byte, independently of EventArrayEncoder, so that
/// malformed ones can be made too.
private struct RawArray {
    var layout = TypeLengthLayout.rightToLeft
    var body: [UInt8] = []
    var records: Int32 = 0
    /// Overrides the header's length (nil: the real length).
    var declaredLength: Int?
    var type = EventRecordLayout.eventType
    /// Hands out only this many bytes (nil: all).
    var cutTo: Int?

    mutating func int32(_ value: Int32) { withUnsafeBytes(of: value) { body += $0 } }
    mutating func uint32(_ value: UInt32) { withUnsafeBytes(of: value) { body += $0 } }

    mutating func record(seconds: Int32 = 7, microseconds: Int32 = 8, flags: UInt32 = 1, nparams: Int32) {
        int32(seconds)
        int32(microseconds)
        uint32(flags)
        int32(nparams)
        records += 1
    }

    mutating func parameter(pmid: UInt32, type: UInt32 = 6, value: [UInt8], length: Int? = nil) {
        uint32(pmid)
        uint32(layout.word(type: type, length: length ?? 4 + value.count))
        body += value + [UInt8](repeating: 0, count: EventRecordLayout.padded(value.count) - value.count)
    }

    var bytes: [UInt8] {
        var header: [UInt8] = []
        withUnsafeBytes(of: layout.word(type: type, length: declaredLength ?? 8 + body.count)) { header += $0 }
        withUnsafeBytes(of: records) { header += $0 }
        return Array((header + body).prefix(cutTo ?? .max))
    }
}

private func decode(_ array: RawArray) throws -> [DecodedRecord] {
    try array.bytes.withUnsafeBytes { try decodeEventArray($0, layout: array.layout) }
}

/// Counts handed-over records, to show that a bad array delivers none.
private struct Counter: EventRecordHandler {
    var count = 0
    mutating func handle(_ record: EventRecord) { count += 1 }
}

private func expectRefused(
    _ array: RawArray, _ error: EventArrayError, sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    var counter = Counter()
    #expect(throws: error, sourceLocation: sourceLocation) {
        try array.bytes.withUnsafeBytes { _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &counter) }
    }
    #expect(counter.count == 0, "nothing of a bad array is delivered", sourceLocation: sourceLocation)
}

@Suite struct EventArrayDecoderTests {
    @Test(arguments: [TypeLengthLayout.rightToLeft, TypeLengthLayout(typeShift: 0, lengthShift: 8)])
    func readsBackWhatTheEncoderWrites(layout: TypeLengthLayout) throws {
        let writer = EventArrayWriter(layout: layout, initialCapacity: 64)
        let lines: [[UInt8]] = (0...40).map { length in (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37) } }
        writer.encode { array in
            array.addMissedRecord(seconds: 1, microseconds: 2, count: 12345)
            for (index, line) in lines.enumerated() {
                array.beginRecord(seconds: Int32(index), microseconds: 9, flags: EventRecordLayout.pointFlag)
                line.withUnsafeBytes { array.addBytes($0, pmid: 40, type: index % 2 == 0 ? .string : .aggregate) }
            }
            array.beginRecord(seconds: 99, microseconds: 999_999, flags: EventRecordLayout.endFlag)
            array.addInteger(UInt32(bitPattern: -3), pmid: 41, type: .int32)
            array.addInteger(1, pmid: 42, type: .uint32)
            array.addString("exited", pmid: 43)
        }
        let records = try decodeEventArray(writer.finish(), layout: layout)
        #expect(records.count == 1 + lines.count + 1)
        #expect(
            records.first
                == DecodedRecord(
                    seconds: 1, microseconds: 2, flags: EventRecordLayout.missedFlag,
                    missed: 12345, parameters: []))
        for (index, line) in lines.enumerated() {
            #expect(
                records[1 + index]
                    == DecodedRecord(
                        seconds: Int32(index), microseconds: 9, flags: EventRecordLayout.pointFlag, missed: 0,
                        parameters: [DecodedParameter(pmid: 40, type: index % 2 == 0 ? 6 : 7, value: line)]))
        }
        #expect(
            records.last
                == DecodedRecord(
                    seconds: 99, microseconds: 999_999, flags: EventRecordLayout.endFlag,
                    missed: 0,
                    parameters: [
                        DecodedParameter(pmid: 41, type: 0, value: [0xFD, 0xFF, 0xFF, 0xFF]),
                        DecodedParameter(pmid: 42, type: 1, value: [1, 0, 0, 0]),
                        DecodedParameter(pmid: 43, type: 6, value: Array("exited".utf8)),
                    ]))
    }

    @Test func integerValuesAreReadOnlyWhenFourBytesArePresent() throws {
        var array = RawArray()
        array.record(nparams: 2)
        array.parameter(pmid: 1, type: 0, value: [0x2A, 0, 0, 0])
        array.parameter(pmid: 2, type: 0, value: [0x2A, 0])
        var values: [Int32?] = []
        struct Reader: EventRecordHandler {
            var read: ([Int32?]) -> Void
            mutating func handle(_ record: EventRecord) {
                var found: [Int32?] = []
                record.forEachParameter { found.append($0.int32Value) }
                read(found)
            }
        }
        var reader = Reader { values = $0 }
        try array.bytes.withUnsafeBytes { _ = try EventArrayDecoder.decode($0, layout: array.layout, into: &reader) }
        #expect(values == [42, nil])
    }

    @Test func anEmptyArrayHasNoRecordsAndTrailingBytesAreTolerated() throws {
        #expect(try decode(RawArray()) == [])
        var array = RawArray()
        array.record(nparams: 1)
        array.parameter(pmid: 5, value: Array("x".utf8))
        var bytes = array.bytes + [0xAA, 0xBB, 0xCC, 0xDD]
        bytes.withUnsafeMutableBytes {
            $0.storeBytes(of: array.layout.word(type: 9, length: $0.count), as: UInt32.self)
        }
        let records = try bytes.withUnsafeBytes { try decodeEventArray($0) }
        #expect(records.map(\.parameters) == [[DecodedParameter(pmid: 5, type: 6, value: [0x78])]])
    }

    @Test func malformedArraysAreRefusedWithTheReason() {
        var tiny = RawArray()
        tiny.cutTo = 4
        expectRefused(tiny, .tooShort(4))

        var wrongType = RawArray()
        wrongType.type = 6
        expectRefused(wrongType, .notAnEventArray(type: 6))

        var longer = RawArray()
        longer.declaredLength = 100
        expectRefused(longer, .badLength(declared: 100, available: 8))
        var shorter = RawArray()
        shorter.declaredLength = 4
        expectRefused(shorter, .badLength(declared: 4, available: 8))

        var negative = RawArray()
        negative.records = -1
        expectRefused(negative, .badRecordCount(-1))

        var missingRecord = RawArray()
        missingRecord.record(nparams: 0)
        missingRecord.records = 2
        expectRefused(missingRecord, .recordOverrun(record: 1))

        var negativeParameters = RawArray()
        negativeParameters.record(nparams: -2)
        expectRefused(negativeParameters, .badParameterCount(record: 0, count: -2))

        var missedAndMore = RawArray()
        missedAndMore.record(flags: EventRecordLayout.missedFlag | EventRecordLayout.pointFlag, nparams: 3)
        expectRefused(missedAndMore, .badParameterCount(record: 0, count: 3))

        var missingParameter = RawArray()
        missingParameter.record(nparams: 2)
        missingParameter.parameter(pmid: 1, value: [1])
        expectRefused(missingParameter, .parameterOverrun(record: 0, parameter: 1))

        var valuePastTheEnd = RawArray()
        valuePastTheEnd.record(nparams: 1)
        valuePastTheEnd.parameter(pmid: 1, value: [1, 2, 3, 4], length: 4 + 400)
        expectRefused(valuePastTheEnd, .parameterOverrun(record: 0, parameter: 0))

        var impossibleLength = RawArray()
        impossibleLength.record(nparams: 1)
        impossibleLength.parameter(pmid: 1, value: [], length: 3)
        expectRefused(impossibleLength, .badParameterLength(record: 0, parameter: 0, length: 3))
    }

    @Test func aBadRecordAfterGoodOnesStopsAllOfThem() {
        var array = RawArray()
        for _ in 0..<3 {
            array.record(nparams: 1)
            array.parameter(pmid: 1, value: Array("good".utf8))
        }
        array.record(nparams: 5)
        expectRefused(array, .parameterOverrun(record: 3, parameter: 0))
    }
}
