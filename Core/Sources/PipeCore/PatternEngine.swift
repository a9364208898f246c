// Regular expressions for `param N = pattern REGEX`. The agent matches them
// on its only thread against text a client chose, so the engine must
// guarantee time linear in the input: a backtracking engine lets a 30-byte
// parameter keep the agent busy past pmcd's timeout. PipeCore matches no
// patterns itself (it makes no calls into C libraries); the engine is
// injected: RE2 in the agent (PipeSystem's RE2PatternEngine), a fake in
// some unit tests.

/// A compiled pattern that decides, in time linear in the text, whether it
/// matches the *whole* of a text.
public protocol CompiledPattern: Sendable {
    /// The pattern as the configuration spells it.
    var source: String { get }
    /// Whether the pattern matches all of `text` (not just a part of it).
    func matchesWhole(_ text: String) -> Bool
}

/// Why a pattern cannot be used; the message is one sentence fit for a
/// configuration diagnostic ("missing ) at ...").
public struct PatternError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Compiles patterns once, when the configuration is loaded (never per
/// request).
public protocol PatternEngine: Sendable {
    /// The most UTF-8 bytes a pattern may have.
    var maximumPatternLength: Int { get }
    /// Compiles `pattern` or says why it cannot be used (bad syntax, a
    /// feature a linear-time engine does not have such as back-references,
    /// too big once compiled).
    func compile(_ pattern: String) throws(PatternError) -> any CompiledPattern
}
