import Testing

@testable import PipeCore

private let limits = GlobalLimits()

@Test(arguments: ["5 sda", "5,sda", "5, sda", "  5 ,, sda  ", "5\tsda"])
func pcpStyleParametersSplitOnBlanksAndCommas(_ text: String) throws {
    #expect(try ParameterParser.split(text, limits: limits) == ["5", "sda"])
}

@Test func quotesKeepSpacesCommasAndPunctuation() throws {
    #expect(
        try ParameterParser.split(#"'a b,c' "x \"y\" \\z" p\ q '' """#, limits: limits)
            == ["a b,c", #"x "y" \z"#, "p q", "", ""])
    #expect(try ParameterParser.split(#""a\nb" 'it''s'"#, limits: limits) == [#"a\nb"#, "its"])
}

@Test func decodeStripsOneTrailingNulAndRequiresUTF8() throws {
    #expect(try ParameterParser.decode(Array("5 sda".utf8) + [0]) == "5 sda")
    #expect(throws: ParameterError.notUTF8) { try ParameterParser.decode([0x66, 0xff]) }
}

@Test(arguments: [
    ("a\u{7}b", ParameterError.controlCharacter(parameter: 1, scalar: 7)),
    ("ok 'x\ty'", .controlCharacter(parameter: 2, scalar: 9)),
    ("ok \u{85}", .controlCharacter(parameter: 2, scalar: 0x85)),
    ("x\u{7F}", .controlCharacter(parameter: 1, scalar: 0x7F)),
    ("'open", .unterminatedQuote),
    ("\"open", .unterminatedQuote),
    ("end\\", .danglingBackslash),
])
func badParameterTextIsRefused(_ text: String, _ error: ParameterError) {
    #expect(throws: error) { try ParameterParser.split(text, limits: limits) }
}

@Test func splitEnforcesCountAndLengthLimits() {
    let small = GlobalLimits(maxParameters: 2, maxParameterLength: 3)
    #expect(throws: ParameterError.tooMany(max: 2, got: 3)) { try ParameterParser.split("a b c", limits: small) }
    #expect(throws: ParameterError.tooLong(parameter: 2, max: 3)) { try ParameterParser.split("a bbbb", limits: small) }
    // Length is in UTF-8 bytes: two 2-byte letters are 4 bytes.
    #expect(throws: ParameterError.tooLong(parameter: 1, max: 3)) { try ParameterParser.split("éé", limits: small) }
}

@Test(arguments: [
    (
        ParameterError.rejected(parameter: 2, value: "sda;x", reason: "does not match the pattern [a-z]+[0-9]*"),
        "parameter 2 ('sda;x') does not match the pattern [a-z]+[0-9]*"
    ),
    (
        ParameterError.rejected(parameter: 1, value: "a/b", reason: "holds other characters", suggestion: "ask"),
        "parameter 1 ('a/b') holds other characters; ask"
    ),
    (.tooFew(needed: 2, got: 1), "this command needs 2 parameters ($1 to $2) but got 1"),
    (.tooFew(needed: 1, got: 0), "this command needs 1 parameter ($1) but got 0"),
    (.tooMany(max: 0, got: 1), "this command takes no parameters but got 1"),
    (.tooMany(max: 2, got: 3), "this command takes at most 2 parameters but got 3"),
    (
        .controlCharacter(parameter: 1, scalar: 7),
        "parameter 1 contains the control character U+0007, which is not allowed"
    ),
    (
        .leadingDash(parameter: 1),
        "parameter 1 starts with '-', which the command could take as an option, and this command does not allow that"
    ),
])
func parameterErrorsReadAsOneSentence(_ error: ParameterError, _ text: String) {
    #expect(error.description == text)
}
