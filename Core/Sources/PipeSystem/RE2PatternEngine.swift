import CRE2
import PipeCore

/// The agent's `PatternEngine`: Google's RE2 (Debian's libre2, re2 2022-06
/// on Debian 12), through the C functions of CRE2.
///
/// Why RE2: the agent matches on its only thread against text a hostile
/// client chooses, and RE2 never backtracks; a match takes time linear in
/// the text (a DFA, or an NFA simulation when the DFA's memory runs out).
/// The price is the Perl features that need backtracking: back-references
/// (`\1`), look-ahead and look-behind (`(?=`, `(?<=`), atomic groups and
/// possessive quantifiers. RE2's syntax: re2.h and
/// /usr/share/doc/libre2-9/syntax.html.
///
/// Semantics: `matchesWhole` asks whether the pattern matches the *whole*
/// text, as if it were wrapped in `\A(?:...)\z`; `^` and `$` inside are
/// harmless, `$` does not match before a final newline and `.` does not
/// match a newline (RE2's defaults, without `(?s)` or `(?m)`); texts are
/// UTF-8, so `.` is one character, not one byte. An empty pattern matches
/// only the empty text.
///
/// Linear in the text, with a factor that grows with the compiled program:
/// in the worst case each byte of text costs some work per instruction (the
/// NFA's state set can hold them all). Hence two limits besides the
/// pattern's length, `maximumProgramSize` and `memoryBudget`. Measured on
/// the project's 2-core machine (Debian 12, re2 2022-06): ordinary patterns
/// match a 1 KiB text in microseconds, hostile texts included; the worst
/// found at the 5,000-instruction limit, a pattern built to keep every
/// instruction alive (`(?:a?){1000}(?:a?){1000}(?:a?){400}x`), took
/// 0.09-0.15 s on a 1 KiB text. Compiling takes milliseconds, and at most about
/// 0.1 s for a pattern refused as too big.
public struct RE2PatternEngine: PatternEngine {
    /// The most UTF-8 bytes a pattern may have: 1024.
    public let maximumPatternLength = 1024
    /// The most instructions a compiled pattern may have (default 5,000;
    /// RE2's ProgramSize()). Generous for what parameters need (a host name
    /// pattern such as `[a-z0-9-]{1,63}(\.[a-z0-9-]{1,63})*` is about 500,
    /// `[a-z]{1000}` about 1,000) while keeping the worst case to about
    /// 0.15 s per KiB of text. Large counted repetitions and Unicode classes
    /// (`\pL` is about 1,200 instructions in UTF-8) are what make programs
    /// big.
    public let maximumProgramSize: Int
    /// RE2's `max_mem` for each pattern the agent keeps, in bytes (default
    /// 1 MiB, against RE2's default of 8 MiB: a configuration may hold many
    /// patterns). RE2 gives two thirds of it to the program that full
    /// matches use (8 bytes an instruction) and that program's DFA cache;
    /// the last third would serve unanchored searches, which the agent never
    /// makes, so a pattern holds at most about 700 KiB, and that only after
    /// many different texts. The DFA is the fast path (about 3 µs per KiB);
    /// it needs room for some 20 states, each up to 8 bytes per instruction,
    /// and at 1 MiB it has that for programs up to about 1,500 instructions
    /// (at 256 KiB already `\pL+`, 1,200, went without). Larger programs
    /// match with RE2's NFA, linear too but some 20 times slower.
    public let memoryBudget: Int

    /// An engine with the given limits; the defaults are the agent's.
    public init(maximumProgramSize: Int = 5_000, memoryBudget: Int = 1 << 20) {
        self.maximumProgramSize = maximumProgramSize
        self.memoryBudget = memoryBudget
    }

    /// RE2's `max_mem` for the first, sizing compile: room for about twice
    /// `maximumProgramSize` instructions while compiling (RE2 gives two
    /// thirds of `max_mem` to the program, 8 bytes an instruction, and
    /// counts instructions before optimizing them away, so some programs
    /// under twice the limit do not fit either). Why a first compile at all:
    /// compiling time grows faster than the program (at 1 MiB RE2 took 7 s
    /// to build an 80,000-instruction program from 480 bytes of
    /// `[ab]{0,1000}`), and RE2 gives up as soon as the program outgrows its
    /// budget; so the sizing compile refuses a far too big pattern cheaply,
    /// and only a pattern within the limit is compiled again with
    /// `memoryBudget`, the room its DFA needs.
    var sizingBudget: Int { 24 * maximumProgramSize }

    /// Compiles `pattern` or says why it cannot be used, in one sentence that
    /// quotes it: "'(a' is not a valid pattern: missing ): (a".
    public func compile(_ pattern: String) throws(PatternError) -> any CompiledPattern {
        try compileRE2(pattern)
    }

    /// `compile`, returning the concrete type (which also tells the
    /// program's size).
    public func compileRE2(_ pattern: String) throws(PatternError) -> RE2Pattern {
        let length = pattern.utf8.count
        if length > maximumPatternLength {
            throw refusal(pattern, "it is \(length) bytes long, over the limit of \(maximumPatternLength)")
        }
        let sizing = min(sizingBudget, memoryBudget)
        let sized = try build(pattern, memoryBudget: sizing)
        if sized.programSize > maximumProgramSize {
            throw refusal(pattern, tooBig(sized.programSize))
        }
        if sizing == memoryBudget { return sized }
        return try build(pattern, memoryBudget: memoryBudget)
    }

    private func build(_ pattern: String, memoryBudget: Int) throws(PatternError) -> RE2Pattern {
        do {
            return try RE2Pattern(compiling: pattern, memoryBudget: memoryBudget)
        } catch {
            throw refusal(pattern, explanation(of: error, in: pattern))
        }
    }

    // MARK: - Messages

    /// Why a program over `maximumProgramSize` is refused; `instructions`
    /// is its size when known (nil when the sizing compile gave up first).
    private func tooBig(_ instructions: Int?) -> String {
        let size = instructions.map { "\($0) RE2 instructions, over" } ?? "more RE2 instructions than"
        return "it compiles to \(size) the limit of \(maximumProgramSize) that keeps every match fast; large "
            + "counted repetitions such as {1000} and Unicode classes such as \\pL cost the most (prefer * or +: "
            + "the parameter's length is limited anyway)"
    }

    private func refusal(_ pattern: String, _ reason: String) -> PatternError {
        PatternError("\(Self.quoted(pattern)) is not a valid pattern: \(reason)")
    }

    /// The pattern in quotes, shortened when it would swamp the message (the
    /// reason that follows names the offending part).
    static func quoted(_ pattern: String) -> String {
        pattern.count <= 64 ? "'\(pattern)'" : "'\(pattern.prefix(60))...'"
    }

    /// RE2's reason, or a plainer one where RE2's would puzzle someone who
    /// wrote the pattern for Perl or PCRE: RE2 refuses the features that need
    /// backtracking with "invalid escape sequence" or "invalid perl operator".
    func explanation(of failure: RE2Failure, in pattern: String) -> String {
        let fragment = failure.fragment
        let linear = "RE2 guarantees time linear in the text, which rules them out"
        let needless = "nor needed: RE2 never backtracks"
        switch failure.code {
        case PIPE_RE2_ERROR_BAD_ESCAPE:
            // \1..\9 and \g, \k: Perl's and PCRE's back-references.
            if let second = fragment.dropFirst().first, "123456789gk".contains(second) {
                return "back-references such as \(fragment) are not supported: \(linear)"
            }
        case PIPE_RE2_ERROR_BAD_PERL_OP:
            switch fragment {
            case "(?=", "(?!":
                return "look-ahead such as \(fragment) is not supported: \(linear)"
            case "(?<":
                // RE2 stops at "(?<" for look-behind and for PCRE's named
                // groups alike; the pattern tells which was meant.
                if pattern.contains("(?<=") || pattern.contains("(?<!") {
                    return "look-behind such as (?<= or (?<! is not supported: \(linear)"
                }
                return "named groups are written (?P<name>...) in RE2, not (?<name>...)"
            case "(?>":
                return "atomic groups (?>...) are not supported, \(needless)"
            default:
                break
            }
        case PIPE_RE2_ERROR_REPEAT_OP:
            // "*+", "++", "?+", "{2}+": PCRE's possessive quantifiers.
            if ["*+", "++", "?+"].contains(fragment) || (fragment.hasPrefix("{") && fragment.hasSuffix("}+")) {
                return "possessive quantifiers such as \(fragment) are not supported, \(needless)"
            }
        case PIPE_RE2_ERROR_REPEAT_SIZE:
            return "\(failure.message) (a count may be at most 1000, and so may the product of counts nested "
                + "inside each other)"
        case PIPE_RE2_ERROR_PATTERN_TOO_LARGE:
            // Almost always the sizing compile (its budget holds twice the
            // limit); the second one only when memoryBudget is set too small.
            if failure.budget < memoryBudget {
                return tooBig(nil)
            }
            return "it is too big once compiled, over RE2's memory budget of \(memoryBudget / 1024) KiB per pattern; "
                + "large counted repetitions such as {1000} and Unicode classes such as \\pL cost the most"
        case PIPE_RE2_ERROR_OUT_OF_MEMORY:
            return "RE2 ran out of memory compiling it"
        default:
            break
        }
        return failure.message.isEmpty ? "RE2 refused it (error \(failure.code.rawValue))" : failure.message
    }
}
