// The type/length word that pmValueBlock, pmEventArray and pmEventParameter
// share: 8 bits of PM_TYPE_* and 24 bits of length, as C bitfields.

/// Where the compiler puts the 8-bit type and 24-bit length of the
/// type/length word (pmValueBlock, pmEventArray and pmEventParameter share
/// it). The order of C bitfields is the compiler's business
/// (HAVE_BITFIELDS_LTOR), so callers measure it with a C probe rather than
/// assume it.
public struct TypeLengthLayout: Sendable, Equatable {
    public var typeShift: UInt32
    public var lengthShift: UInt32

    public init(typeShift: UInt32, lengthShift: UInt32) {
        self.typeShift = typeShift
        self.lengthShift = lengthShift
    }

    /// `probe(type, length)` must return the word as C lays it out.
    public init(probe: (UInt32, UInt32) -> UInt32) {
        typeShift = UInt32(probe(0xFF, 0).trailingZeroBitCount)
        lengthShift = UInt32(probe(0, 0xFF_FFFF).trailingZeroBitCount)
    }

    /// Right-to-left bitfields (gcc/clang on x86_64 and aarch64 Linux).
    public static let rightToLeft = TypeLengthLayout(typeShift: 24, lengthShift: 0)

    /// The largest length the 24-bit field holds.
    @inlinable public static var maxLength: Int { 0xFF_FFFF }

    // Inlinable: pmpipe's decoder, in another module, reads two words per record.
    @inlinable @inline(__always)
    public func type(of word: UInt32) -> UInt32 { (word >> typeShift) & 0xFF }

    @inlinable @inline(__always)
    public func length(of word: UInt32) -> Int { Int((word >> lengthShift) & 0xFF_FFFF) }

    @inlinable @inline(__always)
    public func word(type: UInt32, length: Int) -> UInt32 {
        ((type & 0xFF) << typeShift) | ((UInt32(truncatingIfNeeded: length) & 0xFF_FFFF) << lengthShift)
    }
}
