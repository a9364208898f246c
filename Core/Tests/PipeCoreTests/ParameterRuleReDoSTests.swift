import PipeCore
import Testing

/// A client chooses the text a `pattern` rule is matched against, on the
/// agent's only thread: patterns that can backtrack exponentially are refused.
struct ParameterRuleReDoSTests {
    @Test(arguments: ["(a+)+", "(a*)*", "(\\w+x?)*y", "((ab)?)+", "(?:[a-z]+,)*z", "(a{1,3})+"])
    func patternsRepeatingARepeatedGroupAreRefused(_ pattern: String) {
        #expect(throws: TemplateError.self) { try ParameterRule.parse("pattern \(pattern)") }
    }

    @Test(arguments: ["[A-Za-z][A-Za-z0-9_-]{0,31}", "(sd[a-z]|nvme[0-9]n[0-9])", "[0-9]+", "(ab)+",
                      "x\\(a+\\)+", "[(a+)]+", "(foo|bar)*baz"])
    func ordinaryPatternsAreAccepted(_ pattern: String) throws {
        #expect(try ParameterRule.parse("pattern \(pattern)") == .pattern(pattern))
    }
}
