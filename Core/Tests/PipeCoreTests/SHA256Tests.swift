import Testing
import PipeCore

/// NIST FIPS 180-4 example vectors (csrc.nist.gov "SHA256.pdf", "SHA2_Additional").
@Suite("SHA256", .timeLimit(.minutes(1)))
struct SHA256Tests {
    static let vectors: [(message: String, digest: String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ]

    @Test func nistVectorsHashToTheirPublishedDigests() {
        for vector in Self.vectors {
            #expect(SHA256.hex(SHA256.hash(Array(vector.message.utf8))) == vector.digest, "\(vector.message)")
        }
    }

    @Test func oneMillionLetterAHashesToThePublishedDigest() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(SHA256.hash(message)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesSplitAtEveryOffsetGiveTheSameDigest() {
        for vector in Self.vectors {
            let bytes = Array(vector.message.utf8)
            for split in 0...bytes.count {
                var hasher = SHA256()
                hasher.update(Array(bytes[..<split]))
                hasher.update(Array(bytes[split...]))
                #expect(SHA256.hex(hasher.finalize()) == vector.digest, "split at \(split)")
            }
        }
    }

    @Test func byteAtATimeUpdatesAcrossBlockBoundariesGiveTheOneShotDigest() {
        // Lengths around the 55/56/64-byte padding edges.
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var hasher = SHA256()
            for byte in bytes { hasher.update([byte]) }
            #expect(hasher.finalize() == SHA256.hash(bytes), "length \(length)")
        }
    }

    @Test func hexRoundTripsAndParseRejectsWrongLengthOrDigits() {
        let digest = SHA256.hash(Array("abc".utf8))
        #expect(SHA256.parseHex(SHA256.hex(digest)) == digest)
        #expect(SHA256.parseHex(SHA256.hex(digest).uppercased()) == digest)
        #expect(SHA256.parseHex("abc") == nil)
        #expect(SHA256.parseHex(String(repeating: "g", count: 64)) == nil)
        #expect(SHA256.parseHex(SHA256.hex(digest) + "0") == nil)
    }
}
