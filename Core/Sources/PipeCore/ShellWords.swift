// What the agent knows of shell syntax beyond quoting: which first words
// need a shell, which commands run their arguments as code.

/// Names the command-line scanners look for.
enum ShellWords {
    /// First words that only a shell understands: POSIX special built-ins,
    /// reserved words, and built-ins that have no program of their own. A
    /// command line starting with one runs through /bin/sh, as PCP's agent
    /// ran every line (`noop nobody exit` must work).
    static let shellOnly: Set<String> = [
        // reserved words
        "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
        "{", "}", "!", "[[", "function", "select", "time",
        // special built-ins (POSIX.1-2017 2.14)
        "break", ":", "continue", ".", "eval", "exec", "exit", "export", "readonly", "return", "set", "shift",
        "times", "trap", "unset",
        // built-ins without a program
        "cd", "wait", "read", "umask", "alias", "unalias", "getopts", "hash", "type", "ulimit", "command", "jobs",
        "fg", "bg", "local", "source", "let", "builtin", "declare", "typeset",
    ]

    /// Built-ins that run their arguments as shell code: a placeholder there
    /// would let a client write code, whatever its type.
    static let evaluating: Set<String> = ["eval", ".", "source", "trap"]

    /// Shells: `NAME -c SCRIPT` runs SCRIPT as code.
    static let shells: Set<String> = ["sh", "bash", "dash", "ksh", "mksh", "zsh", "ash", "su", "runuser"]

    /// `-c`, or combined short flags ending in c (`-ec`, `-xc`), or `--command`.
    static func isScriptFlag(_ word: String) -> Bool {
        if word == "--command" || word == "-c" { return true }
        guard word.hasPrefix("-"), !word.hasPrefix("--"), word.count > 1 else { return false }
        return word.dropFirst().allSatisfy { $0.isASCII && $0.isLetter } && word.hasSuffix("c")
    }

    static func scriptError(shell: String, placeholder: String) -> TemplateError {
        TemplateError(
            "\(placeholder) would be the whole script that '\(shell) -c' runs, so the client would choose the "
                + "command: write the command into the script and pass the parameter to it")
    }
}
