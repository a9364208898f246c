// The words of one simple command, read the way the programs it names read
// them: which word is the program that finally runs, and which words are
// code. A placeholder there would let the client choose the command or
// write the program, whatever its type (letters and digits name `id` and
// spell sed's `e` command), so such command lines are refused when the
// configuration is read. Wrappers that run another command (`nice`,
// `timeout 5`, `env A=1`, `sudo -u x`, `xargs`, `find -exec`) are looked
// through; shells, `su` and interpreters (`awk`, `sed`, `perl -e`) are read
// with their options. The tables name each program's options that take an
// argument, so that the word after them is not taken for the command.

/// One word of a simple command, as the command-word check sees it.
struct CommandWord: Sendable, Equatable {
    /// The text before the first placeholder or expansion, quotes removed
    /// (`--command=` of `--command=$1`); the whole word when `isLiteral`.
    var prefix: String
    /// The text is fully known: no placeholder, no expansion.
    var isLiteral: Bool
    var hasPlaceholder: Bool
    /// The word is exactly one placeholder, however quoted (`$1`, `"$1"`, `'$1'`).
    var isOnlyPlaceholder: Bool
    /// Indexes into the template's `uses` of this word's placeholders.
    var useIndexes: [Int]
    /// The first placeholder as written (`$1`), for messages; empty if none.
    var firstPlaceholder = ""
    /// The text with its placeholders as written (`ls /srv/$1`); nil when it
    /// holds another expansion.
    var template: String?

    /// The literal text, nil when the word holds a placeholder or expansion.
    var text: String? { isLiteral ? prefix : nil }

    static func literal(_ text: String) -> CommandWord {
        CommandWord(
            prefix: text, isLiteral: true, hasPlaceholder: false, isOnlyPlaceholder: false, useIndexes: [],
            template: text)
    }

    /// Looks like an option: `-x`, `--long`, `+o` (not `-` or `--` alone).
    var isOption: Bool {
        (prefix.hasPrefix("-") || prefix.hasPrefix("+")) && prefix != "-" && prefix != "--" && prefix.count > 1
    }
}

/// The command-word check over one simple command.
enum CommandWords {
    /// A program that runs another command given after its own options and
    /// `operands` fixed arguments (`timeout DURATION cmd`).
    struct Wrapper {
        /// Options whose argument is the next word (or attached: `-n10`, `--signal=KILL`).
        var argumentOptions: Set<String> = []
        var operands = 0
        /// Options whose argument is shell code (`flock -c`, `env -S`).
        var scriptOptions: Set<String> = []
        /// Flags that make the command run through a shell (`sudo -s`).
        var shellFlags: Set<String> = []
        /// `NAME=VALUE` words come before the command (env).
        var assignments = false
        /// Everything after the options and operands is joined into shell
        /// code (`watch`, `ssh HOST`, `parallel`).
        var runsShellCode = false
    }

    /// A program that reads a program text: from an option (`perl -e`),
    /// else from its first operand unless a file option came first (`awk -f`).
    struct Interpreter {
        var programOptions: Set<String>
        var fileOptions: Set<String> = []
        var argumentOptions: Set<String> = []
    }

    static let wrappers: [String: Wrapper] = [
        "env": Wrapper(
            argumentOptions: ["-u", "--unset", "-C", "--chdir", "-a", "--argv0"],
            scriptOptions: ["-S", "--split-string"], assignments: true),
        "nice": Wrapper(argumentOptions: ["-n", "--adjustment"]),
        "nohup": Wrapper(),
        "setsid": Wrapper(),
        "time": Wrapper(argumentOptions: ["-f", "--format", "-o", "--output"]),
        "exec": Wrapper(argumentOptions: ["-a"]),
        "command": Wrapper(),
        "builtin": Wrapper(),
        "busybox": Wrapper(),
        "stdbuf": Wrapper(argumentOptions: ["-i", "-o", "-e", "--input", "--output", "--error"]),
        "timeout": Wrapper(argumentOptions: ["-s", "--signal", "-k", "--kill-after"], operands: 1),
        "chroot": Wrapper(argumentOptions: ["--userspec", "--groups"], operands: 1),
        "ionice": Wrapper(argumentOptions: [
            "-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid",
        ]),
        "taskset": Wrapper(operands: 1),
        "chrt": Wrapper(
            argumentOptions: ["-T", "--sched-runtime", "-P", "--sched-period", "-D", "--sched-deadline"],
            operands: 1),
        "flock": Wrapper(
            argumentOptions: ["-w", "--timeout", "-E", "--conflict-exit-code"], operands: 1,
            scriptOptions: ["-c", "--command"]),
        "unshare": Wrapper(argumentOptions: [
            "--map-user", "--map-group", "--setgroups", "-S", "--setuid", "-G", "--setgid", "-R", "--root", "-w",
            "--wd",
        ]),
        "nsenter": Wrapper(argumentOptions: [
            "-t", "--target", "-S", "--setuid", "-G", "--setgid", "-w", "--wd", "-r", "--root",
        ]),
        "setpriv": Wrapper(argumentOptions: [
            "--reuid", "--regid", "--groups", "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits",
            "--pdeathsig", "--selinux-label", "--apparmor-profile",
        ]),
        "sudo": Wrapper(
            argumentOptions: [
                "-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host", "-p",
                "--prompt", "-r", "--role", "-t", "--type", "-U", "--other-user", "-T", "--command-timeout",
            ], shellFlags: ["-s", "--shell", "-i", "--login"]),
        "doas": Wrapper(argumentOptions: ["-u", "-C"], shellFlags: ["-s"]),
        "xargs": Wrapper(argumentOptions: [
            "-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "--max-lines", "-n", "--max-args", "-P",
            "--max-procs", "-s", "--max-chars", "--process-slot-var",
        ]),
        "strace": Wrapper(argumentOptions: [
            "-e", "-o", "-p", "-s", "-u", "-a", "-b", "-I", "-O", "-P", "-S", "-X", "-E",
        ]),
        "ltrace": Wrapper(argumentOptions: ["-e", "-o", "-p", "-s", "-u", "-a", "-n", "-l"]),
        "valgrind": Wrapper(),
        "watch": Wrapper(argumentOptions: ["-n", "--interval"], runsShellCode: true),
        "ssh": Wrapper(
            argumentOptions: [
                "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q", "-R",
                "-S", "-W", "-w", "-B",
            ], operands: 1, runsShellCode: true),
        "parallel": Wrapper(runsShellCode: true),
    ]

    static let interpreters: [String: Interpreter] = {
        let awk = Interpreter(
            programOptions: ["-e", "--source"], fileOptions: ["-f", "--file"],
            argumentOptions: ["-F", "--field-separator", "-v", "--assign", "-i", "--include", "-l", "--load"])
        let python = Interpreter(programOptions: ["-c", "-m"], argumentOptions: ["-W", "-X", "-Q"])
        return [
            "awk": awk, "gawk": awk, "mawk": awk, "nawk": awk,
            "sed": Interpreter(
                programOptions: ["-e", "--expression"], fileOptions: ["-f", "--file"],
                argumentOptions: ["-l", "--line-length"]),
            "perl": Interpreter(programOptions: ["-e", "-E"], argumentOptions: ["-I", "-M", "-m"]),
            "python": python, "python2": python, "python3": python,
            "ruby": Interpreter(programOptions: ["-e", "-r"], argumentOptions: ["-I"]),
            "node": Interpreter(programOptions: ["-e", "--eval", "-p", "--print", "-r", "--require"]),
            "nodejs": Interpreter(programOptions: ["-e", "--eval", "-p", "--print", "-r", "--require"]),
            "php": Interpreter(programOptions: ["-r"], fileOptions: ["-f"]),
            "lua": Interpreter(programOptions: ["-e", "-l"]),
            "tclsh": Interpreter(programOptions: []),
            "expect": Interpreter(programOptions: ["-c"], fileOptions: ["-f"]),
            "bpftrace": Interpreter(programOptions: ["-e", "-c"], argumentOptions: ["-p", "-o", "-B", "-f"]),
            "stap": Interpreter(
                programOptions: ["-e", "-c"],
                argumentOptions: ["-x", "-o", "-p", "-D", "-I", "-R", "-r", "-m", "-d", "-s", "-B"]),
            "gdb": Interpreter(
                programOptions: ["-ex", "--eval-command", "-iex", "-x", "--command", "-ix", "-p", "--pid"]),
        ]
    }()

    /// Programs that run as another user with a command they are given
    /// (`su -c`, `runuser --command=`): no parameter may stand anywhere in
    /// their arguments. The agent's own `user` field is the way to run as
    /// someone else.
    static let userSwitchers: Set<String> = ["su", "runuser"]

    /// Checks one simple command (its first word is the command name, after
    /// any assignments). Throws when a placeholder would name the program
    /// that runs or be code for a shell or an interpreter. Returns the
    /// placeholder uses that must be plain words although they stand as whole
    /// arguments (the arguments of `sh -c SCRIPT`, read again by that script),
    /// as (index into `uses`, context for messages).
    static func check(_ words: [CommandWord]) throws(TemplateError) -> [(use: Int, context: String)] {
        var embedded: [(use: Int, context: String)] = []
        try check(words[...], via: nil, embedded: &embedded)
        return embedded
    }

    private static func check(
        _ words: ArraySlice<CommandWord>, via: String?, embedded: inout [(use: Int, context: String)]
    ) throws(TemplateError) {
        guard let first = words.first else { return }
        if first.hasPlaceholder {
            guard let via else { throw DirectCommandScanner.misplacedProgram }
            throw TemplateError(
                "the program name cannot come from a parameter: \(first.prefix)\(first.firstPlaceholder) is the "
                    + "command that '\(via)' runs")
        }
        guard let path = first.text else { return }
        let name = baseName(path)
        let rest = words.dropFirst()
        if ShellWords.shells.contains(name) && !userSwitchers.contains(name) {
            return try shell(name, rest, embedded: &embedded)
        }
        if userSwitchers.contains(name) {
            return try userSwitch(name, rest)
        }
        if ShellWords.evaluating.contains(name), rest.contains(where: \.hasPlaceholder) {
            throw TemplateError(
                "a placeholder in the arguments of '\(name)' would be run as shell code: pass it as an ordinary argument"
            )
        }
        if let wrapper = wrappers[name] {
            return try wrapped(name, wrapper, rest, embedded: &embedded)
        }
        if let interpreter = interpreters[name] {
            return try interpreted(name, interpreter, rest)
        }
        if name == "find" {
            var index = rest.startIndex
            while index < rest.endIndex {
                let action = rest[index].text
                index += 1
                guard let action, ["-exec", "-execdir", "-ok", "-okdir"].contains(action) else { continue }
                let end = rest[index...].firstIndex { $0.text == ";" || $0.text == "+" } ?? rest.endIndex
                try check(rest[index..<end], via: "find \(action)", embedded: &embedded)
                index = end
            }
        }
    }

    /// A shell: `-c` (alone or in a cluster like `-ec`, `-ce`) makes its
    /// first operand the script; without it the first operand is the script
    /// file. Either way a parameter there, or in an option, chooses the code.
    /// A literal script whose operands carry parameters is read as a command
    /// line of its own, with those operands as its `$0`, `$1`, ...
    private static func shell(
        _ name: String, _ words: ArraySlice<CommandWord>, embedded: inout [(use: Int, context: String)]
    ) throws(TemplateError) {
        var index = words.startIndex
        var script = false
        var stdin = false
        while index < words.endIndex, words[index].isOption {
            let word = words[index]
            if word.hasPlaceholder {
                throw TemplateError("a parameter cannot be an option of '\(name)': it could add -c and a script")
            }
            let option = word.prefix
            index += 1
            if ["-o", "+o", "-O", "+O", "--rcfile", "--init-file"].contains(option) {
                if index < words.endIndex, words[index].hasPlaceholder {
                    throw TemplateError("a parameter cannot be the argument of '\(name) \(option)'")
                }
                index += 1
            } else if !option.hasPrefix("--") {
                let letters = option.dropFirst()
                if letters.contains("c") { script = true }
                if letters.contains("s") { stdin = true }
            }
        }
        if index < words.endIndex, words[index].prefix == "--" || words[index].prefix == "-",
            words[index].isLiteral
        {
            index += 1
        }
        guard index < words.endIndex else { return }
        let operand = words[index]
        guard script else {
            // Without -c the operand is a script file (with -s, a positional parameter).
            if !stdin, operand.isOnlyPlaceholder {
                throw TemplateError(
                    "\(operand.firstPlaceholder) would name the script file that '\(name)' runs, so the client "
                        + "would choose the code")
            }
            return
        }
        try scriptText(operand, of: "\(name) -c")
        let arguments = words[(index + 1)...]
        guard arguments.contains(where: \.hasPlaceholder) else { return }
        guard let text = operand.template else {
            throw TemplateError(
                "the script that '\(name) -c' runs is computed, so the agent cannot tell what it does with the "
                    + "parameters passed to it: write the script literally")
        }
        // The script's own $0, $1, ... are these arguments: it must not run
        // them as commands or code either (scriptText has already read a
        // script that holds placeholders).
        if !operand.hasPlaceholder { try readScript(text, of: "\(name) -c") }
        for word in arguments {
            for use in word.useIndexes {
                embedded.append(
                    (use, "an argument of the script that '\(name) -c' runs, which reads it as shell words"))
            }
        }
    }

    /// The script argument of `sh -c` or `su -c`: a placeholder may not be
    /// all of it, and the script, read as a command line with the
    /// placeholders where they stand, must pass every rule of its own
    /// (`'$1 /etc/shadow'` names the program; `"ls /srv/$1"` does not).
    private static func scriptText(_ word: CommandWord, of runner: String) throws(TemplateError) {
        guard word.hasPlaceholder else { return }
        if word.isOnlyPlaceholder {
            throw ShellWords.scriptError(
                shell: runner.split(separator: " ").first.map(String.init) ?? runner,
                placeholder: word.firstPlaceholder)
        }
        guard let template = word.template else {
            throw TemplateError(
                "the script that '\(runner)' runs holds both a parameter and an expansion, so the agent cannot tell "
                    + "what it runs: write the script literally")
        }
        try readScript(template, of: runner)
    }

    private static func readScript(_ text: String, of runner: String) throws(TemplateError) {
        var inner = ShellScriptRewriter(Array(text.unicodeScalars))
        do {
            try inner.run()
        } catch {
            throw TemplateError("in the script that '\(runner)' runs: \(error.message)")
        }
    }

    /// `su` and `runuser`: a parameter may stand only in the text of the
    /// `-c` / `--command` script (read as a command line of its own), never
    /// in the user, the shell (`-s`) or another option. The agent's own
    /// `user` field is the better way to run as someone else.
    private static func userSwitch(_ name: String, _ words: ArraySlice<CommandWord>) throws(TemplateError) {
        let commandOptions: Set<String> = ["-c", "--command", "--session-command"]
        var index = words.startIndex
        while index < words.endIndex {
            let word = words[index]
            index += 1
            let (option, attached) = split(word, options: commandOptions)
            if word.isOption, commandOptions.contains(option) {
                if attached {
                    if word.hasPlaceholder {
                        // `-c$1`, `--command=$1 x`: read what follows the option as the script.
                        if word.prefix == option || word.prefix == option + "=" {
                            throw ShellWords.scriptError(shell: name, placeholder: word.firstPlaceholder)
                        }
                        guard let template = word.template, let cut = template.firstIndex(of: "=") else {
                            throw ShellWords.scriptError(shell: name, placeholder: word.firstPlaceholder)
                        }
                        try readScript(String(template[template.index(after: cut)...]), of: "\(name) -c")
                    }
                } else if index < words.endIndex {
                    try scriptText(words[index], of: "\(name) -c")
                    index += 1
                }
                continue
            }
            if word.hasPlaceholder {
                throw TemplateError(
                    "a parameter in the arguments of '\(name)' (other than the text of its -c script) could choose "
                        + "the user, the shell or the command: give the command its own line with that user in the "
                        + "user field")
            }
        }
    }

    private static func wrapped(
        _ name: String, _ wrapper: Wrapper, _ words: ArraySlice<CommandWord>,
        embedded: inout [(use: Int, context: String)]
    ) throws(TemplateError) {
        let scriptError = TemplateError(
            "a parameter here would be shell code that '\(name)' runs, so the client would choose the command")
        let splitOptions = wrapper.argumentOptions.union(wrapper.scriptOptions)
        var index = words.startIndex
        while index < words.endIndex {
            let word = words[index]
            if word.isLiteral, word.prefix == "--" {
                index += 1
                break
            }
            if wrapper.assignments, isAssignment(word.prefix) {
                index += 1
                continue
            }
            guard word.isOption else { break }
            index += 1
            if wrapper.shellFlags.contains(word.prefix) {
                // The command that follows runs through a shell.
                if words[index...].contains(where: \.hasPlaceholder) { throw scriptError }
                return
            }
            let (option, attached) = split(word, options: splitOptions)
            if wrapper.scriptOptions.contains(option) {
                if attached {
                    if word.hasPlaceholder { throw scriptError }
                } else {
                    if index < words.endIndex, words[index].hasPlaceholder { throw scriptError }
                    index += 1
                }
                continue
            }
            if word.hasPlaceholder && !attached {
                throw TemplateError(
                    "a parameter cannot be an option of '\(name)', which runs another command: it could change "
                        + "which one")
            }
            if wrapper.argumentOptions.contains(option) && !attached { index += 1 }
        }
        index = min(index + wrapper.operands, words.endIndex)
        // `flock FILE -c COMMAND`: a script option may follow the operands.
        if index < words.endIndex, words[index].isOption {
            let (option, attached) = split(words[index], options: wrapper.scriptOptions)
            if wrapper.scriptOptions.contains(option) {
                if attached ? words[index].hasPlaceholder : words[(index + 1)...].contains(where: \.hasPlaceholder) {
                    throw scriptError
                }
                return
            }
        }
        if wrapper.runsShellCode {
            if words[index...].contains(where: \.hasPlaceholder) { throw scriptError }
            return
        }
        try check(words[index...], via: name, embedded: &embedded)
    }

    private static func interpreted(_ name: String, _ interpreter: Interpreter, _ words: ArraySlice<CommandWord>)
        throws(TemplateError)
    {
        func programError(_ word: CommandWord) -> TemplateError {
            TemplateError(
                "\(word.firstPlaceholder) would be the whole program that '\(name)' runs, so the client would write code: write the "
                    + "program into the command line and pass the parameter as data")
        }
        let known = interpreter.programOptions.union(interpreter.fileOptions).union(interpreter.argumentOptions)
        var index = words.startIndex
        var programGiven = false
        while index < words.endIndex, words[index].isOption {
            let word = words[index]
            let (option, attached) = split(word, options: known)
            index += 1
            if interpreter.programOptions.contains(option) {
                programGiven = true
                // `-e$1`: the parameter is the whole program.
                if attached, word.hasPlaceholder, word.prefix == option { throw programError(word) }
                if !attached {
                    if index < words.endIndex, words[index].isOnlyPlaceholder { throw programError(words[index]) }
                    index += 1
                }
            } else if interpreter.fileOptions.contains(option) {
                programGiven = true
                if !attached { index += 1 }
            } else if interpreter.argumentOptions.contains(option) && !attached {
                index += 1
            }
        }
        if index < words.endIndex, words[index].isLiteral, words[index].prefix == "--" { index += 1 }
        if !programGiven, index < words.endIndex, words[index].isOnlyPlaceholder { throw programError(words[index]) }
    }

    /// `-n10` → ("-n", attached), `--signal=KILL` → ("--signal", attached),
    /// `-n$1` → ("-n", attached), `-n` → ("-n", not attached). Only the
    /// given options are split off.
    private static func split(_ word: CommandWord, options: Set<String>) -> (option: String, attached: Bool) {
        let text = word.prefix
        if options.contains(text) { return (text, word.hasPlaceholder) }
        if text.hasPrefix("--"), let equals = text.firstIndex(of: "=") {
            return (String(text[..<equals]), true)
        }
        if !text.hasPrefix("--"), text.count > 2 {
            let short = String(text.prefix(2))
            if options.contains(short) { return (short, true) }
        }
        return (text, false)
    }

    static func isAssignment(_ word: String) -> Bool {
        let scalars = Array(word.unicodeScalars)
        guard let equals = scalars.firstIndex(of: "="), equals > 0 else { return false }
        let isLetter: (Unicode.Scalar) -> Bool = { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || $0 == "_" }
        guard isLetter(scalars[0]) else { return false }
        return scalars[..<equals].allSatisfy { isLetter($0) || PlaceholderSyntax.isDigit($0) }
    }

    static func baseName(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }
}
