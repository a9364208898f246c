import PipeCore
import Testing

/// A record read back from the bytes, independently of the writer's code.
struct ReadRecord: Equatable {
    var seconds: Int32
    var microseconds: Int32
    var flags: UInt32
    var nparams: Int32
    var parameters: [ReadParameter]
}

struct ReadParameter: Equatable {
    var pmid: UInt32
    var type: UInt32
    var value: [UInt8]
    var padding: [UInt8]
}

/// Walks a packed pmEventArray by the documented layout (right-to-left
/// bitfields: type in the top 8 bits, length in the low 24).
func readEventArray(_ array: UnsafeRawBufferPointer) -> (type: UInt32, length: Int, records: [ReadRecord]) {
    func u32(_ at: Int) -> UInt32 { array.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
    func i32(_ at: Int) -> Int32 { array.loadUnaligned(fromByteOffset: at, as: Int32.self) }
    let header = u32(0)
    var records: [ReadRecord] = []
    var offset = 8
    for _ in 0..<Int(i32(4)) {
        var record = ReadRecord(
            seconds: i32(offset), microseconds: i32(offset + 4), flags: u32(offset + 8),
            nparams: i32(offset + 12), parameters: [])
        offset += 16
        if record.flags != EventRecordLayout.missedFlag {
            for _ in 0..<Int(record.nparams) {
                let word = u32(offset + 4)
                let length = Int(word & 0xFF_FFFF) - 4
                let padded = (length + 3) & ~3
                record.parameters.append(
                    ReadParameter(
                        pmid: u32(offset), type: word >> 24,
                        value: Array(array[(offset + 8)..<(offset + 8 + length)]),
                        padding: Array(array[(offset + 8 + length)..<(offset + 8 + padded)])))
                offset += 8 + padded
            }
        }
        records.append(record)
    }
    #expect(offset == array.count, "the array's length is exactly its records")
    return (header >> 24, Int(header & 0xFF_FFFF), records)
}

@Suite struct EventArrayWriterTests {
    let layout = TypeLengthLayout.rightToLeft

    @Test func emptyArrayIsJustTheHeader() {
        let writer = EventArrayWriter(layout: layout)
        let array = writer.finish()
        #expect(array.count == 8)
        let (type, length, records) = readEventArray(array)
        #expect(type == 9)
        #expect(length == 8)
        #expect(records.isEmpty)
    }

    @Test func linesKeepTheirExactBytesAndZeroPadding() {
        let writer = EventArrayWriter(layout: layout)
        let lines: [[UInt8]] = [[], Array("a".utf8), Array("abcd".utf8), Array("hello".utf8), [0x00, 0xFF, 0x0D]]
        writer.encode { array in
            for (index, line) in lines.enumerated() {
                array.beginRecord(seconds: Int32(index), microseconds: 7, flags: 1)
                line.withUnsafeBytes { array.addBytes($0, pmid: 42, type: index == 4 ? .aggregate : .string) }
            }
        }
        let bytes = writer.finish()
        let (_, length, records) = readEventArray(bytes)
        #expect(length == bytes.count)
        #expect(records.count == lines.count)
        for (index, record) in records.enumerated() {
            #expect(record.seconds == Int32(index))
            #expect(record.microseconds == 7)
            #expect(record.flags == 1)
            #expect(record.nparams == 1)
            #expect(record.parameters.first?.value == lines[index])
            #expect(record.parameters.first?.pmid == 42)
            #expect(record.parameters.first?.type == (index == 4 ? 7 : 6))
            #expect(record.parameters.first?.padding.allSatisfy { $0 == 0 } == true)
        }
    }

    /// Short lines are copied inline by overlapping loads and stores: every
    /// length must come out exact, with zero padding and nothing beyond.
    @Test func everyShortLengthIsCopiedExactly() {
        let writer = EventArrayWriter(layout: layout, initialCapacity: 64)
        let source = (0..<40).map { UInt8(0x41 + $0) }
        writer.encode { array in
            for length in 0...40 {
                array.beginRecord(seconds: Int32(length), microseconds: 0, flags: 1)
                source[0..<length].withUnsafeBytes { array.addBytes($0, pmid: 1, type: .string) }
            }
        }
        let (_, _, records) = readEventArray(writer.finish())
        #expect(records.count == 41)
        for (length, record) in records.enumerated() {
            #expect(record.parameters.first?.value == Array(source[0..<length]), "length \(length)")
            #expect(record.parameters.first?.padding.allSatisfy { $0 == 0 } == true, "length \(length)")
        }
    }

    @Test func integersMissedRecordsAndTextParameters() {
        let writer = EventArrayWriter(layout: layout)
        writer.encode { array in
            array.addMissedRecord(seconds: 1, microseconds: 2, count: 12345)
            array.beginRecord(seconds: 3, microseconds: 4, flags: 5)
            array.addInteger(UInt32(bitPattern: -1), pmid: 10, type: .int32)
            array.addInteger(1, pmid: 11, type: .uint32)
            array.addString("exited", pmid: 12)
        }
        let (_, _, records) = readEventArray(writer.finish())
        #expect(
            records == [
                ReadRecord(
                    seconds: 1, microseconds: 2, flags: EventRecordLayout.missedFlag, nparams: 12345, parameters: []),
                ReadRecord(
                    seconds: 3, microseconds: 4, flags: 5, nparams: 3,
                    parameters: [
                        ReadParameter(pmid: 10, type: 0, value: [0xFF, 0xFF, 0xFF, 0xFF], padding: []),
                        ReadParameter(pmid: 11, type: 1, value: [1, 0, 0, 0], padding: []),
                        ReadParameter(pmid: 12, type: 6, value: Array("exited".utf8), padding: [0, 0]),
                    ]),
            ])
    }

    @Test func growsPastItsFirstBufferAndResetsForReuse() {
        let writer = EventArrayWriter(layout: layout, initialCapacity: 64)
        let line = [UInt8](repeating: 0x41, count: 1000)
        writer.encode { array in
            for second in 0..<100 {
                array.beginRecord(seconds: Int32(second), microseconds: 0, flags: 1)
                line.withUnsafeBytes { array.addBytes($0, pmid: 1, type: .string) }
            }
        }
        let (_, length, records) = readEventArray(writer.finish())
        #expect(records.count == 100)
        #expect(records.allSatisfy { $0.parameters.first?.value == line })
        #expect(records.map(\.seconds) == (0..<100).map(Int32.init))
        #expect(length == 8 + 100 * (16 + 8 + 1000))
        #expect(writer.capacity >= length)

        writer.reset()
        writer.encode { array in
            array.beginRecord(seconds: 9, microseconds: 9, flags: 2)
            [UInt8]("x".utf8).withUnsafeBytes { array.addBytes($0, pmid: 1, type: .string) }
        }
        let (_, _, again) = readEventArray(writer.finish())
        #expect(again.count == 1)
        #expect(again.first?.parameters.first?.value == [0x78])
        #expect(again.first?.parameters.first?.padding == [0, 0, 0])
    }

    @Test func layoutWordRoundTrips() {
        for layout in [TypeLengthLayout.rightToLeft, TypeLengthLayout(typeShift: 0, lengthShift: 8)] {
            let word = layout.word(type: 9, length: 0x12_3456)
            #expect(layout.type(of: word) == 9)
            #expect(layout.length(of: word) == 0x12_3456)
        }
        let probed = TypeLengthLayout { type, length in (type << 24) | length }
        #expect(probed == .rightToLeft)
    }
}
