import CCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// SHA-256 through libcrypto's EVP interface (openssl/evp.h): feed bytes,
/// then take the 32-byte digest. A class because it owns the EVP_MD_CTX.
public final class SHA256Hasher {
    private let context: OpaquePointer

    /// The corresponding C calls are EVP_MD_CTX_new(3) and EVP_DigestInit_ex(3).
    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// The corresponding C call is EVP_DigestUpdate(3).
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(EVP_DigestUpdate(context, base, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest; the hasher is spent afterwards.
    /// The corresponding C call is EVP_DigestFinal_ex(3).
    public func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        return digest
    }

    /// Lowercase hexadecimal, as sha256sum prints.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
