import CRE2
import PipeCore

/// One pattern compiled by RE2 (see `RE2PatternEngine`), owning the C++
/// object behind it.
///
/// Sendable although it holds a raw handle: the handle never changes after
/// `init`, the RE2 object behind it is immutable once built and "safe for
/// concurrent use by multiple threads" (re2.h, class RE2; its DFA cache has
/// its own locking), and `deinit` runs once, after the last reference is
/// gone.
public final class RE2Pattern: CompiledPattern, @unchecked Sendable {
    /// The pattern as the configuration spells it.
    public let source: String
    /// The number of instructions in RE2's compiled program (RE2's
    /// ProgramSize(), "a very approximate measure of a regexp's cost",
    /// re2.h). A match costs time in proportion to the text's length and, in
    /// the worst case, to this number too.
    public let programSize: Int
    private let handle: OpaquePointer

    /// Compiles `source` with RE2's options as pipe_re2_compile lists them and
    /// `memoryBudget` bytes as RE2's `max_mem`. The corresponding C call is
    /// pipe_re2_compile (in CRE2).
    init(compiling source: String, memoryBudget: Int) throws(RE2Failure) {
        var code = PIPE_RE2_OK
        // RE2's messages are short ("missing ): (a"); the fragment is a piece
        // of the pattern, itself at most RE2PatternEngine's 1024 bytes.
        var message = [CChar](repeating: 0, count: 256)
        var fragment = [CChar](repeating: 0, count: 1100)
        var pattern = source
        let compiled = pattern.withUTF8 { bytes in
            message.withUnsafeMutableBufferPointer { message in
                fragment.withUnsafeMutableBufferPointer { fragment in
                    pipe_re2_compile(
                        bytes.baseAddress, bytes.count, Int64(memoryBudget), &code,
                        message.baseAddress!, message.count, fragment.baseAddress!, fragment.count)
                }
            }
        }
        guard let compiled else {
            throw RE2Failure(
                code: code, message: Self.text(message), fragment: Self.text(fragment),
                budget: memoryBudget)
        }
        self.source = source
        self.handle = compiled
        self.programSize = Int(pipe_re2_program_size(compiled))
    }

    deinit {
        pipe_re2_free(handle)
    }

    /// Whether the pattern matches all of `text` (its UTF-8 bytes, NUL bytes
    /// included), in time linear in its length. Says no, too, in the one case
    /// where RE2 cannot decide (it ran out of memory): a check that fails
    /// must refuse. The corresponding C call is pipe_re2_full_match.
    public func matchesWhole(_ text: String) -> Bool {
        // withUTF8 is mutating: a String bridged or not yet contiguous is
        // made contiguous first; the agent's own Strings are already.
        var text = text
        return text.withUTF8 { bytes in
            pipe_re2_full_match(handle, bytes.baseAddress, bytes.count) == 1
        }
    }

    /// A NUL-terminated buffer from pipe_re2_compile as a String (invalid
    /// UTF-8, such as a multibyte character cut at the buffer's end, is
    /// repaired rather than refused: this is text for a diagnostic).
    private static func text(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why RE2 refused a pattern, as pipe_re2_compile reports it; the engine
/// turns it into a `PatternError` a sysadmin can read.
struct RE2Failure: Error {
    /// Which kind of error (RE2::ErrorCode's values, plus out of memory).
    let code: pipe_re2_error
    /// RE2's own text, e.g. "missing ): (a".
    let message: String
    /// The offending part of the pattern, e.g. "(a" (empty when RE2 names none).
    let fragment: String
    /// The `max_mem` the compile had, in bytes.
    let budget: Int
}
