/// A configured command line, parsed once, from which each run's argument
/// vector is built.
///
/// Placeholders use PCP's syntax: `$N` or `${N}` (N is one or more digits, so
/// `$12` is parameter 12) and `$0` for all parameters. As in PCP's agent, a
/// placeholder is substituted wherever it appears, even inside quotes
/// (`awk '{print $2}'` takes parameter 2); where it stands decides which
/// parameter types may fill it (`uses`, `Placement`).
///
/// A command line of plain words becomes `.direct`: it runs with execve, no
/// shell, each placeholder filling (part of) one argument. Anything the shell
/// would interpret (quotes, `|`, `;`, `$VAR`, globs, a first word that is a
/// shell builtin or keyword such as `exit` or `for`, ...) makes it `.shell`:
/// the script is the sysadmin's text with every placeholder rewritten to a
/// quoted positional-parameter reference, and the client's parameters travel
/// as `sh -c <script> <instance> p1 ... pn`, never inside the script. Either
/// way the outer shell parses no client byte; what a command inside the
/// script does with a value is why only plain words may stand there.
public struct CommandTemplate: Sendable, Equatable {
    /// How the command runs.
    public enum Form: Sendable, Equatable {
        /// Run with execve, no shell.
        case direct(words: [Word])
        /// Run as `/bin/sh -c <script> <instance> p1 p2 ... pn`.
        case shell(script: String)
    }

    public let form: Form
    /// Every placeholder occurrence, in order.
    public let uses: [PlaceholderUse]
    /// The largest N in the command's `$N` placeholders, 0 if none.
    public let highestParameter: Int
    /// Whether the command contains `$0` (all parameters), so it uses every
    /// parameter given, however many.
    public let usesAllParameters: Bool

    /// The largest placeholder number a template may use.
    public static let maximumPlaceholder = 9999

    init(form: Form, uses: [PlaceholderUse]) {
        self.form = form
        self.uses = uses
        highestParameter = uses.map(\.number).max() ?? 0
        usesAllParameters = uses.contains { $0.number == 0 }
    }

    public static func parse(_ commandLine: String) throws(TemplateError) -> CommandTemplate {
        let scalars = Array(commandLine.trimmingASCIIWhitespace().unicodeScalars)
        guard !scalars.isEmpty else { throw TemplateError("missing a command") }
        if let words = try DirectCommandScanner.words(scalars) {
            var uses = DirectCommandScanner.uses(of: words)
            for (use, context) in try CommandWords.check(DirectCommandScanner.commandWords(words)) {
                uses[use].placement = .embedded(context: context)
            }
            return CommandTemplate(form: .direct(words: words), uses: uses)
        }
        var rewriter = ShellScriptRewriter(scalars)
        try rewriter.run()
        return CommandTemplate(form: .shell(script: String(rewriter.output)), uses: rewriter.uses)
    }

    /// Whether the command runs without a shell.
    public var isDirect: Bool {
        if case .direct = form { return true }
        return false
    }

    /// argv[0] as configured: the first word of a direct command (a bare name
    /// or a path), `/bin/sh` for a shell command.
    public var programName: String {
        guard case .direct(let words) = form, let first = words.first else { return "/bin/sh" }
        // The scanner guarantees the program word holds no placeholder.
        return first.pieces.map { piece -> String in
            if case .literal(let text) = piece { return text }
            return ""
        }.joined()
    }

    /// Absolute paths written literally in the command line after its
    /// program: whole arguments of a direct command and the words of a
    /// shell script or of an argument holding one (`sh -c '...'`), split at
    /// blanks, quotes and shell operators. A program or script behind a
    /// wrapper or an interpreter (`timeout 5 /opt/x`, `sh /opt/x.sh`,
    /// `awk -f /opt/x.awk`) is among them; paths built from parameters are
    /// not.
    public var literalPaths: [String] {
        var texts: [String] = []
        switch form {
        case .direct(let words):
            for word in words.dropFirst() {
                var text = ""
                for piece in word.pieces {
                    guard case .literal(let literal) = piece else {
                        text = ""
                        break
                    }
                    text += literal
                }
                texts.append(text)
            }
        case .shell(let script):
            texts.append(script)
        }
        let separators = Set(" \t\n'\";|&()<>`".unicodeScalars)
        var paths: [String] = []
        for text in texts {
            for token in text.unicodeScalars.split(whereSeparator: { separators.contains($0) }) {
                let path = String(String.UnicodeScalarView(token))
                if path.hasPrefix("/") && !path.contains("$") && !paths.contains(path) { paths.append(path) }
            }
        }
        return paths
    }

    /// The argument vector for one run, from parameters already checked and
    /// converted (`LaunchPlanner`); a missing parameter renders as empty text
    /// rather than trapping.
    public func render(instance: String, parameters: [String]) -> Invocation {
        switch form {
        case .direct(let words):
            var argv: [String] = []
            for word in words {
                if word.pieces == [.allParameters] {
                    argv.append(contentsOf: parameters)
                    continue
                }
                var text = ""
                for piece in word.pieces {
                    switch piece {
                    case .literal(let literal): text += literal
                    case .parameter(let number):
                        text += number >= 1 && number <= parameters.count ? parameters[number - 1] : ""
                    case .allParameters: text += parameters.joined(separator: " ")
                    }
                }
                argv.append(text)
            }
            return Invocation(program: argv.first ?? "", arguments: argv, usesShell: false)
        case .shell(let script):
            return Invocation(
                program: "/bin/sh",
                arguments: ["/bin/sh", "-c", script, instance] + parameters,
                usesShell: true)
        }
    }
}

// MARK: - Placeholder syntax shared by both scanners

enum PlaceholderSyntax {
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }

    /// Recognizes `$N` or `${N}` at `index` (which holds `$`): the number and
    /// the index just past the placeholder, or nil when it is something else.
    static func placeholder(in text: [Unicode.Scalar], at index: Int) throws(TemplateError) -> (number: Int, end: Int)?
    {
        var cursor = index + 1
        let braced = cursor < text.count && text[cursor] == "{"
        if braced { cursor += 1 }
        let digitsStart = cursor
        while cursor < text.count, isDigit(text[cursor]) { cursor += 1 }
        guard cursor > digitsStart else { return nil }
        if braced {
            guard cursor < text.count, text[cursor] == "}" else { return nil }
        }
        let digits = String(String.UnicodeScalarView(text[digitsStart..<cursor]))
        guard digits.count <= 5, let number = Int(digits), number <= CommandTemplate.maximumPlaceholder else {
            throw TemplateError(
                "placeholder $\(digits) is too large: parameters are numbered 1 to \(CommandTemplate.maximumPlaceholder)"
            )
        }
        return (number, braced ? cursor + 1 : cursor)
    }
}
