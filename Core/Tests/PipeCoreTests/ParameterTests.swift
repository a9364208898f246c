import Testing
@testable import PipeCore

private let limits = GlobalLimits()

@Test(arguments: ["5 sda", "5,sda", "5, sda", "  5 ,, sda  ", "5\tsda"])
func pcpStyleParametersSplitOnBlanksAndCommas(_ text: String) throws {
    #expect(try ParameterParser.split(text, limits: limits) == ["5", "sda"])
}

@Test func quotesKeepSpacesCommasAndPunctuation() throws {
    #expect(try ParameterParser.split(#"'a b,c' "x \"y\" \\z" p\ q '' """#, limits: limits)
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
    (ParameterError.rejected(parameter: 2, value: "sda;x", reason: "does not match the pattern [a-z]+[0-9]*"),
     "parameter 2 ('sda;x') does not match the pattern [a-z]+[0-9]*"),
    (.tooFew(needed: 2, got: 1), "this command needs 2 parameters ($1 to $2) but got 1"),
    (.tooFew(needed: 1, got: 0), "this command needs 1 parameter ($1) but got 0"),
    (.tooMany(max: 0, got: 1), "this command takes no parameters but got 1"),
    (.tooMany(max: 2, got: 3), "this command takes at most 2 parameters but got 3"),
    (.controlCharacter(parameter: 1, scalar: 7), "parameter 1 contains the control character U+0007, which is not allowed"),
    (.leadingDash(parameter: 1), "parameter 1 starts with '-', which the command could take as an option, and this command does not allow that"),
])
func parameterErrorsReadAsOneSentence(_ error: ParameterError, _ text: String) {
    #expect(error.description == text)
}

@Test func rulesParseFromConfigurationText() throws {
    #expect(try ParameterRule.parse("integer 1..60") == .integer(1...60))
    #expect(try ParameterRule.parse("integer -5..+5") == .integer(-5...5))
    #expect(try ParameterRule.parse("pattern [a-z]+[0-9]*") == .pattern("[a-z]+[0-9]*"))
    #expect(try ParameterRule.parse("oneof sda sdb nvme0n1") == .oneOf(["sda", "sdb", "nvme0n1"]))
    #expect(throws: TemplateError.self) { try ParameterRule.parse("pattern [a-z") }
    #expect(throws: TemplateError.self) { try ParameterRule.parse("integer 9..1") }
    #expect(throws: TemplateError.self) { try ParameterRule.parse("integer x..1") }
    #expect(throws: TemplateError.self) { try ParameterRule.parse("regex a") }
}

@Test func patternMustMatchTheWholeValue() {
    let rule = ParameterRule.pattern("[a-z]+[0-9]*")
    #expect(rule.check("sda1") == nil)
    #expect(rule.check("sda;x") == "does not match the pattern [a-z]+[0-9]*")
    #expect(rule.check("x sda") != nil)
}

@Test func integerRuleAcceptsOnlySignedDecimalDigits() {
    let rule = ParameterRule.integer(-10...60)
    #expect(rule.check("5") == nil)
    #expect(rule.check("-5") == nil)
    #expect(rule.check("+5") == nil)
    #expect(rule.check("61") == "is outside the range -10 to 60")
    for bad in ["", "0x10", "5 ", "1e3", "٣", "--5", "99999999999999999999999"] {
        #expect(rule.check(bad) != nil, "\(bad)")
    }
}

private func spec(_ command: String, _ configure: (inout InstanceOptions) -> Void = { _ in }) throws -> CommandSpec {
    var options = InstanceOptions()
    configure(&options)
    return CommandSpec(
        name: "inst", user: "root", commandLine: command, template: try CommandTemplate.parse(command),
        options: options, location: SourceLocation(file: "pipe.conf", line: 1))
}

@Test func prepareChecksTheCountAgainstTheTemplate() throws {
    let bdev = try spec("btrace -w $1 /dev/$2")
    #expect(throws: ParameterError.tooFew(needed: 2, got: 1)) { try bdev.prepare(parameters: ["5"], limits: limits) }
    #expect(throws: ParameterError.tooMany(max: 2, got: 3)) {
        try bdev.prepare(parameters: ["5", "sda", "x"], limits: limits)
    }
    let all = try spec("tool $1 $0")
    #expect(try all.prepare(parameters: ["a", "b", "c"], limits: limits).arguments == ["tool", "a", "a", "b", "c"])
    #expect(throws: ParameterError.tooMany(max: 2, got: 3)) {
        try all.prepare(parameters: ["a", "b", "c"], limits: GlobalLimits(maxParameters: 2))
    }
}

@Test func leadingDashIsRefusedUnlessAllowedOrAcceptedByARule() throws {
    #expect(throws: ParameterError.leadingDash(parameter: 1)) {
        try spec("tool $1").prepare(parameters: ["-rf"], limits: limits)
    }
    #expect(throws: ParameterError.leadingDash(parameter: 1)) {
        try spec("tool $1").prepare(parameters: ["-\u{301}x"], limits: limits)
    }
    #expect(try spec("tool $1") { $0.allowLeadingDash = true }.prepare(parameters: ["-rf"], limits: limits).arguments
        == ["tool", "-rf"])
    #expect(try spec("tool $1") { $0.parameterRules[1] = .integer(-10...10) }
        .prepare(parameters: ["-5"], limits: limits).arguments == ["tool", "-5"])
    #expect(throws: ParameterError.leadingDash(parameter: 1)) {
        try spec("tool $1") { $0.parameterRules[1] = .integer(0...10) }.prepare(parameters: ["-5"], limits: limits)
    }
}

@Test func prepareAppliesRulesAfterTheGenericChecks() throws {
    let bdev = try spec("btrace -w $1 /dev/$2") {
        $0.parameterRules = [1: .integer(1...60), 2: .pattern("[a-z]+[0-9]*")]
    }
    #expect(try bdev.prepare(parameters: ["5", "sda"], limits: limits).arguments == ["btrace", "-w", "5", "/dev/sda"])
    #expect(throws: ParameterError.rejected(parameter: 2, value: "sda;x", reason: "does not match the pattern [a-z]+[0-9]*")) {
        try bdev.prepare(parameters: ["5", "sda;x"], limits: limits)
    }
    #expect(throws: ParameterError.controlCharacter(parameter: 2, scalar: 10)) {
        try bdev.prepare(parameters: ["5", "sd\na"], limits: limits)
    }
    #expect(throws: ParameterError.tooLong(parameter: 1, max: 1024)) {
        try bdev.prepare(parameters: [String(repeating: "1", count: 1025), "sda"], limits: limits)
    }
}
