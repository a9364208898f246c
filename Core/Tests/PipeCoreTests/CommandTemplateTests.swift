import Testing

@testable import PipeCore

private func template(_ text: String) throws -> CommandTemplate { try CommandTemplate.parse(text) }

private func script(_ text: String) throws -> String? {
    if case .shell(let script) = try CommandTemplate.parse(text).form { return script }
    return nil
}

@Test func plainWordsRunWithoutAShell() throws {
    let parsed = try template("btrace -w $1 /dev/$2")
    #expect(
        parsed.form
            == .direct(words: [
                Word(literal: "btrace"), Word(literal: "-w"), Word(pieces: [.parameter(1)]),
                Word(pieces: [.literal("/dev/"), .parameter(2)]),
            ]))
    #expect(parsed.highestParameter == 2)
    #expect(!parsed.usesAllParameters)
}

@Test(arguments: [
    "perf script | head", "a && b", "a; b", "a > f", "a < f", "(a)", "echo $HOME", "echo `id`", "echo \\x",
    "echo \"x\"", "echo 'x'", "ls *", "ls ?", "ls [ab]", "echo #c", "ls ~", "A=1 cmd", "if true", "{ a; }",
    "! a", "time a", "[[ a ]]", "function f", "echo ${1:-x}x",  // rejected, see below
])
func shellSyntaxSelectsShellMode(_ text: String) throws {
    guard let parsed = try? CommandTemplate.parse(text) else { return }
    guard case .shell = parsed.form else {
        Issue.record("\(text) should need a shell")
        return
    }
}

@Test func hashInsideAWordIsNotAComment() throws {
    #expect(try template("tool a#b").form == .direct(words: [Word(literal: "tool"), Word(literal: "a#b")]))
}

@Test func multiDigitPlaceholderIsOneParameter() throws {
    let parsed = try template("tool $12 ${3}x")
    #expect(
        parsed.form
            == .direct(words: [
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
    #expect(
        invocation
            == Invocation(
                program: "btrace", arguments: ["btrace", "-w", "5", "/dev/sda; rm -rf /"], usesShell: false))
}

@Test func shellRenderingPassesParametersAsPositionalArguments() throws {
    let invocation = try template("perf script | grep $1").render(instance: "inst", parameters: ["$(id)"])
    #expect(
        invocation
            == Invocation(
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
    (
        "eval echo $1;",
        "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"
    ),
    (
        "eval \"echo $1\"",
        "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"
    ),
    (
        "\"eval\" $1",
        "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"
    ),
    (
        "e\\val \"$1\"",
        "a placeholder in the arguments of 'eval' would be run as shell code: pass it as an ordinary argument"
    ),
    ("echo $@", "'$@' would hand the client's parameters to the shell unquoted: write $0 for all parameters"),
    (
        "echo ${1:-x}",
        "'${1:-x...' applies shell operators to a client parameter, which the agent cannot quote: write a plain $N"
    ),
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
    #expect(
        try script("echo \"$(case $1 in a) echo $2;; esac)\"") == "echo \"$(case \"${1}\" in a) echo \"${2}\";; esac)\""
    )
}

/// PCP's agent ran every line through /bin/sh: a first word only a shell
/// knows still means the shell (QA 878's `noop nobody exit`).
@Test(arguments: [
    "exit", "exit 3", "cd /tmp", "wait", "trap '' TERM", "for x in a; do echo $x; done", ": nothing",
    "export A=1", "read x", "eval echo hi", "set -e",
])
func aFirstWordOnlyAShellKnowsRunsThroughTheShell(_ text: String) throws {
    #expect(try script(text) != nil, "\(text)")
}

@Test func programsThatShareANameWithABuiltinRunDirectly() throws {
    for text in ["true", "echo hi", "printf %s x", "kill -0 1", "test -e /x"] {
        #expect(try template(text).isDirect, "\(text)")
    }
}

/// Where each placeholder stands decides which types may fill it.
@Test(arguments: [
    ("cat $1", [Placement.wholeArgument]),
    ("cat /var/log/$1", [.embedded(context: "inside the word '/var/log/$1'")]),
    ("tool --opt=$1 $0", [.embedded(context: "inside the word '--opt=$1'"), .wholeArgument]),
    ("cat $1 | head -n 3", [.wholeShellWord]),
    ("cat \"$1\" | head", [.wholeShellWord]),
    ("cat /var/log/$1 | head -n 3", [.embedded(context: "inside a larger word")]),
    ("grep -e \"x $1\" f | cat", [.embedded(context: "inside a double-quoted string with other text")]),
    (
        "awk '/$1/' FILE",
        [.embedded(context: "inside single quotes (substituted into text that a command reads, as PCP's agent did)")]
    ),
    ("sed -n \"/$1/p\" FILE", [.embedded(context: "inside a double-quoted string with other text")]),
    ("sh -c \"ls /srv/$1\"", [.embedded(context: "inside the script that 'sh -c' runs")]),
    ("su -s /bin/sh nobody -c \"ls /srv/$1\"", [.embedded(context: "inside the script that 'su -c' runs")]),
    ("for f in /var/log/$1; do tail -n 2 $f; done", [.embedded(context: "inside a larger word")]),
    ("echo $1 | xargs prog", [.wholeShellWord]),
    ("echo ${X:-$1} | cat", [.embedded(context: "inside ${...}")]),
    ("printf '%s' \"$(printf '%s' $1)\"", [.wholeShellWord]),
])
func placementsAreRecorded(_ text: String, _ placements: [Placement]) throws {
    #expect(try template(text).uses.map(\.placement) == placements)
}

/// Code contexts refuse a placeholder whatever its type: however the
/// command's name is spelled, and when the command's name is computed.
@Test(arguments: [
    "\"eval\" $1", "e\\val \"$1\"", "'eval' $1", "ev''al $1", "command eval $1", "trap \"rm -f /tmp/x.$1\" EXIT",
    ". $1", "source \"$1\"", "$CMD $1", "\"$CMD\" x $1", "sh -c $1", "bash -c \"$1\"", "sh -ec $1",
    "su nobody -c \"$1\"", "x=1; sh -c $1 arg",
])
func placeholdersWhereTheyWouldBeCodeAreRefused(_ text: String) {
    #expect(throws: TemplateError.self, "\(text)") { try CommandTemplate.parse(text) }
}

/// What a hostile review got past the first version of these rules: each
/// line, with the default letters-and-digits parameter `id` (or `head`), ran
/// that program as root. Options before the script, clusters like `-ce`,
/// wrappers that run a command (`nice`, `timeout 5`, `env`, `sudo -u x`,
/// `xargs`, `find -exec`, `exec -a`, `command -p`), quotes around the
/// placeholder, attached forms (`--command=$1`, `-c$1`), a script that runs
/// its own `$0`, and interpreters whose program it would be.
@Test(arguments: [
    "sh -c -- $1", "sh -ce $1", "sh -c -e $1", "bash -c -- $1", "nice sh -c $1", "nice $1", "timeout 5 $1",
    "timeout -s KILL 5 $1", "env $1", "env A=1 $1", "env -S $1", "su root --command=$1", "su root -c$1",
    "runuser -u nobody --command=$1", "su -c -- \"$1\"", "su $1 -c id", "su -s $1 root -c id", "sh -c '$1'",
    "sh -c '$1 /etc/shadow'", "sh -c \"$1 x\"", "sudo -u nobody sh -c \"$1\"", "sudo -u nobody $1",
    "sudo -s ls $1", "exec -a x sh -c \"$1\"", "command -p sh -c \"$1\"", "sh -c '$0' $1", "sh -c 'eval \"$1\"' x $1",
    "echo x | xargs $1", "xargs -n 1 $1", "find / -exec $1 {} \\;", "find / -name x -execdir sh -c $1 \\;",
    "perl -e $1", "perl -e$1", "python3 -c $1", "python3 -m $1", "awk $1 /etc/hostname", "sed $1 /etc/hostname",
    "sed -n -e $1 f", "time -p $1", "flock /tmp/l -c \"$1\"", "watch ls $1", "ssh host ls $1", "sh $1",
    "nice -n 5 timeout 5 $1", "stdbuf -oL $1", "chroot / $1", "taskset 1 $1", "ionice -c 3 $1", "setsid $1",
    "bpftrace -e $1", "gdb -ex $1 -p 1", "busybox $1",
])
func commandsAndCodeThatAParameterWouldChooseAreRefused(_ text: String) {
    #expect(throws: TemplateError.self, "\(text)") { try CommandTemplate.parse(text) }
}

/// The same programs used safely still parse: the parameter is data.
@Test(arguments: [
    "nice -n $1 perf top", "timeout 5 tail -n $1 /var/log/syslog", "sh -c 'ls -- \"$1\"' x $1",
    "sudo -u nobody ls $1", "env LANG=C ls $1", "env A=$1 printenv A", "find /srv -name $1 -exec ls {} \\;",
    "su -s /bin/sh nobody -c \"ls /srv/$1\"", "awk '/$1/' /etc/hostname", "sed -n \"/$1/p\" /etc/hostname",
    "xargs -n 1 echo $1", "perl -e 'print 1' $1", "awk -f /etc/x.awk $1", "sh script.sh $1", "sh -c \"ls /srv/$1\"",
    "timeout $1 sleep 9", "stdbuf -oL tail -n $1 f", "nice -n$1 ls",
])
func theseProgramsWithAParameterAsDataStillParse(_ text: String) throws {
    _ = try CommandTemplate.parse(text)
}

/// Arguments of a literal `sh -c` script are read by that script as shell
/// words: only plain words may stand there, whatever the outer form.
@Test func argumentsOfAShDashCScriptArePlainWordsOnly() throws {
    for text in ["sh -c 'ls -- \"$1\"' x $1", "sh -c 'ls -- \"$1\"' x $1 | cat"] {
        let uses = try CommandTemplate.parse(text).uses
        #expect(uses.count == 2)  // in the script's text, and as its argument
        #expect(
            uses.allSatisfy {
                if case .embedded = $0.placement { return true }
                return false
            }, "\(text)")
    }
}

@Test func aWholePlaceholderAsTheScriptOfShDashCIsRefusedInPlainWordsToo() throws {
    #expect(throws: ShellWords.scriptError(shell: "sh", placeholder: "$1")) { try CommandTemplate.parse("sh -c $1") }
    #expect(throws: ShellWords.scriptError(shell: "bash", placeholder: "$2")) {
        try CommandTemplate.parse("/bin/bash -xc $2 $1")
    }
    #expect(try template("sh -c script.sh $1").isDirect)
}

/// What -C checks, for a command that runs as root, besides its program:
/// the files its line names literally, behind wrappers and interpreters.
@Test(arguments: [
    ("timeout 5 /opt/x/prog $1", ["/opt/x/prog"]),
    ("/bin/sh /opt/x.sh", ["/opt/x.sh"]),
    ("awk -f /etc/x.awk $1", ["/etc/x.awk"]),
    ("sh -c '/opt/a; /opt/b | tee /var/log/c'", ["/opt/a", "/opt/b", "/var/log/c"]),
    ("btrace -w $1 /dev/$2", []),
    ("cat /tmp/x$1", []),
    ("perf script rw-by-file $1", []),
    ("/usr/bin/env", []),
])
func literalPathsAreTheFilesALineNames(_ line: String, _ paths: [String]) throws {
    #expect(try CommandTemplate.parse(line).literalPaths == paths)
}
