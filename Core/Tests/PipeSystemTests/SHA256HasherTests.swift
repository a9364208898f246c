import PipeSystem
import Testing

/// libcrypto's SHA-256 behind SHA256Hasher: NIST FIPS 180-4 example vectors
/// (csrc.nist.gov "SHA256.pdf"), whole and fed in pieces.
struct SHA256HasherTests {
    static let vectors: [(message: String, digest: String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ]

    @Test func nistVectorsHashToTheirPublishedDigests() {
        for vector in Self.vectors {
            let hasher = SHA256Hasher()
            hasher.update(Array(vector.message.utf8))
            #expect(SHA256Hasher.hex(hasher.finalize()) == vector.digest, "\(vector.message)")
        }
    }

    @Test func piecesGiveTheSameDigestAsTheWhole() {
        let bytes = Array(Self.vectors[2].message.utf8)
        for split in 0...bytes.count {
            let hasher = SHA256Hasher()
            hasher.update(Array(bytes[..<split]))
            hasher.update(Array(bytes[split...]))
            #expect(SHA256Hasher.hex(hasher.finalize()) == Self.vectors[2].digest, "split at \(split)")
        }
    }
}
