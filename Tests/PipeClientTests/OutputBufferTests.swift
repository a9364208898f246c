import Testing

@testable import PipeClient

@Suite struct OutputBufferTests {
    @Test func shortCopiesMatchMemcpyForEveryLengthAndLeaveTheRestAlone() {
        let source: [UInt8] = (0..<64).map { UInt8($0 + 1) }
        for length in 0...40 {
            for offset in 0..<8 {
                var destination = [UInt8](repeating: 0xEE, count: 64)
                source.withUnsafeBytes { src in
                    destination.withUnsafeMutableBytes { dst in
                        OutputBuffer.copy(dst.baseAddress! + 3, from: src.baseAddress! + offset, count: length)
                    }
                }
                let expected =
                    [UInt8](repeating: 0xEE, count: 3) + source[offset..<(offset + length)]
                    + [UInt8](repeating: 0xEE, count: 61 - length)
                #expect(destination == expected, "length \(length) offset \(offset)")
            }
        }
    }

    @Test func linesOfEveryLengthAcrossTheBufferEdgeComeOutWhole() throws {
        let file = ScratchFile()
        var expected: [UInt8] = []
        do {
            var buffer = OutputBuffer(file.descriptor, capacity: 16)
            for length in 0...40 {
                let line = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                try line.withUnsafeBytes { try buffer.appendLine($0) }
                expected += line + [0x0A]
            }
            try buffer.flush()
        }
        #expect(file.contents == expected)
    }
}
