import Testing

@testable import PipeCore

@Suite struct ByteSearchTests {
    /// Every position, in words and in the byte tail, with neighbours that
    /// trip the word test's false flags (bytes 0x01 and target + 1 next to
    /// a match).
    @Test(arguments: [UInt8(0x00), 0x0A])
    func findsTheFirstMatchAtEveryPosition(target: UInt8) {
        var rng = SplitMix64(state: UInt64(target) + 1)
        for length in 0..<40 {
            for position in 0...length {
                var bytes = (0..<length).map { _ in
                    var b = UInt8.random(in: 0...255, using: &rng)
                    while b == target { b = UInt8.random(in: 0...255, using: &rng) }
                    return b
                }
                if position < length {
                    bytes[position] = target
                    if position + 1 < length { bytes[position + 1] = target &+ 1 }
                }
                let want: Int? = position < length ? position : nil
                bytes.withUnsafeBytes { buffer in
                    #expect(
                        ByteSearch.firstIndex(of: target, in: buffer, from: 0, limit: length) == want,
                        "length \(length) position \(position)")
                    if target == 0 { #expect(ByteSearch.containsZero(buffer) == (want != nil)) }
                }
            }
        }
    }

    @Test func searchesOnlyTheGivenRange() {
        let bytes: [UInt8] = Array("ab\ncd\nef".utf8)
        bytes.withUnsafeBytes { buffer in
            #expect(ByteSearch.firstIndex(of: 0x0A, in: buffer, from: 3, limit: 8) == 5)
            #expect(ByteSearch.firstIndex(of: 0x0A, in: buffer, from: 0, limit: 2) == nil)
            #expect(ByteSearch.firstIndex(of: 0x0A, in: buffer, from: 6, limit: 8) == nil)
        }
    }
}
