import Testing
@testable import PipeCore

private func template(_ text: String) throws -> CommandTemplate { try CommandTemplate.parse(text) }

private func script(_ text: String) throws -> String? {
    if case .shell(let script) = try CommandTemplate.parse(text) { return script }
    return nil
}

@Test func plainWordsRunWithoutAShell() throws {
    let parsed = try template("btrace -w $1 /dev/$2")
    #expect(parsed == .direct(words: [
        Word(literal: "btrace"), Word(literal: "-w"), Word(pieces: [.parameter(1)]),
        Word(pieces: [.literal("/dev/"), .parameter(2)]),
    ]))
    #expect(parsed.highestParameter == 2)
    #expect(!parsed.usesAllParameters)
}

@Test(arguments: [
    "perf script | head", "a && b", "a; b", "a > f", "a < f", "(a)", "echo $HOME", "echo `id`", "echo \\x",
    "echo \"x\"", "echo 'x'", "ls *", "ls ?", "ls [ab]", "echo #c", "ls ~", "A=1 cmd", "if true", "{ a; }",
    "! a", "time a", "[[ a ]]", "function f", "echo ${1:-x}x" /* rejected, see below */,
])
func shellSyntaxSelectsShellMode(_ text: String) throws {
    guard let parsed = try? CommandTemplate.parse(text) else { return }
    guard case .shell = parsed else {
        Issue.record("\(text) should need a shell")
        return
    }
}

@Test func hashInsideAWordIsNotAComment() throws {
    #expect(try template("tool a#b") == .direct(words: [Word(literal: "tool"), Word(literal: "a#b")]))
}

@Test func multiDigitPlaceholderIsOneParameter() throws {
    let parsed = try template("tool $12 ${3}x")
    #expect(parsed == .direct(words: [
        Word(literal: "tool"), Word(pieces: [.parameter(12)]), Word(pieces: [.parameter(3), .literal("x")]),
    ]))
    #expect(parsed.highestParameter == 12)
    #expect(try script("tool \"$12\"") == "tool \"${12}\"")
}

@Test func aloneAllParametersExpandsToOneArgumentEach() throws {
    let parsed = try template("tool -x $0")
    #expect(parsed.usesAllParameters)
    #expect(parsed.render(instance: "i", parameters: ["a b", "c"]).arguments == ["tool", "-x", "a b", "c"])
    #expect(parsed.render(instance: "i", parameters: []).arguments == ["tool", "-x"])
}

@Test func allParametersInsideAWordJoinWithSpaces() throws {
    let parsed = try template("tool --args=$0")
    #expect(parsed.render(instance: "i", parameters: ["a", "b"]).arguments == ["tool", "--args=a b"])
}

@Test func directRenderingKeepsEachParameterOneArgument() throws {
    let invocation = try template("btrace -w $1 /dev/$2").render(instance: "bdev", parameters: ["5", "sda; rm -rf /"])
    #expect(invocation == Invocation(
        program: "btrace", arguments: ["btrace", "-w", "5", "/dev/sda; rm -rf /"], usesShell: false))
}

@Test func shellRenderingPassesParametersAsPositionalArguments() throws {
    let invocation = try template("perf script | grep $1").render(instance: "inst", parameters: ["$(id)"])
    #expect(invocation == Invocation(
        program: "/bin/sh", arguments: ["/bin/sh", "-c", "perf script | grep \"${1}\"", "inst", "$(id)"],
        usesShell: true))
}

@Test(arguments: [
    ("echo $1 | cat", "echo \"${1}\" | cat"),
    ("echo \"a $1 b\"", "echo \"a ${1} b\""),
    ("echo 'a $1 b'", "echo 'a '\"${1}\"' b'"),
    ("echo $0 | cat", "echo \"$@\" | cat"),
    ("echo \"$0\" | cat", "echo \"$*\" | cat"),
    ("echo '$0' | cat", "echo ''\"$*\"'' | cat"),
    ("echo \\$1 $HOME $$ | cat", "echo \\$1 $HOME $$ | cat"),
    ("echo \"$(grep $1 f)\"", "echo \"$(grep \"${1}\" f)\""),
    ("echo ${X:-$1} | cat", "echo ${X:-\"${1}\"} | cat"),
    ("echo \"${X:-$1}\"", "echo \"${X:-${1}}\""),
])
func shellPlaceholdersAreQuotedForTheirContext(_ input: String, _ expected: String) throws {
    #expect(try script(input) == expected)
}

@Test func shellScriptCountsItsPlaceholders() throws {
    let parsed = try template("echo '$3' \"$1\" | cat")
    #expect(parsed.highestParameter == 3)
    #expect(!parsed.usesAllParameters)
    #expect(try template("echo \"$0\" | cat").usesAllParameters)
    #expect(try template("echo \\$7 | cat").highestParameter == 0)
}

@Test(arguments: [
    ("$1 -x", "the program name cannot come from a parameter"),
    ("/usr/bin/$1 -x", "the program name cannot come from a parameter"),
    ("echo x | $1", "the program name cannot come from a parameter"),
    ("echo x; \"$1\" y", "the program name cannot come from a parameter"),
    ("A=1 $1", "the program name cannot come from a parameter"),
    ("if true; then $1; fi", "the program name cannot come from a parameter"),
    ("$(echo $1) arg", "the program name cannot come from a parameter"),
    ("echo `echo $1`", ShellScriptRewriter.backquoteError.message),
    ("echo $(( $1 + 1 ))", ShellScriptRewriter.arithmeticError.message),
    ("(( $1 > 2 )) && echo big", ShellScriptRewriter.arithmeticError.message),
    ("[[ $1 -eq 3 ]] && echo three", ShellScriptRewriter.arithmeticError.message),
    ("eval echo $1;", "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"),
    ("eval \"echo $1\"", "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"),
    ("echo $@", "'$@' would hand the client's parameters to the shell unquoted: write $0 for all parameters"),
    ("echo ${1:-x}", "'${1:-x...' applies shell operators to a client parameter, which the agent cannot quote: write a plain $N"),
    ("echo 'x", "a single quote (') is never closed"),
    ("echo \"x", "a double quote (\") is never closed"),
    ("echo $(x", "a '$(' is never closed with ')'"),
    ("echo x\\", "the command ends with a backslash that escapes nothing"),
    ("tool $123456", "placeholder $123456 is too large: parameters are numbered 1 to 9999"),
    ("   ", "missing a command"),
])
func unsafeOrBrokenTemplatesAreRejected(_ input: String, _ message: String) {
    #expect(throws: TemplateError(message)) { try CommandTemplate.parse(input) }
}

@Test func placeholderAfterCommandWordIsAnArgument() throws {
    #expect(try script("echo x | grep -e $1") == "echo x | grep -e \"${1}\"")
    #expect(try script("case x in a) echo $1;; esac") != nil)
    #expect(try script("echo \"$(case $1 in a) echo $2;; esac)\"") == "echo \"$(case \"${1}\" in a) echo \"${2}\";; esac)\"")
}
