/// A configured command line, parsed once, from which each run's argument
/// vector is built.
///
/// Placeholders use PCP's syntax: `$N` or `${N}` (N is one or more digits, so
/// `$12` is parameter 12) and `$0` for all parameters.
///
/// A command line of plain words becomes `.direct`: it runs with execve, no
/// shell, each placeholder filling (part of) one argument. Anything the shell
/// would interpret (quotes, `|`, `;`, `$VAR`, globs, ...) makes it `.shell`:
/// the script is the sysadmin's text with every placeholder rewritten to a
/// quoted positional-parameter reference, and the client's parameters travel
/// as `sh -c <script> <instance> p1 ... pn`, never inside the script. Either
/// way no client byte is ever parsed by a shell.
public enum CommandTemplate: Sendable, Equatable {
    /// Run with execve, no shell.
    case direct(words: [Word])
    /// Run as `/bin/sh -c <script> <instance> p1 p2 ... pn`.
    case shell(script: String)

    /// The largest placeholder number a template may use.
    public static let maximumPlaceholder = 9999

    public static func parse(_ commandLine: String) throws(TemplateError) -> CommandTemplate {
        let scalars = Array(commandLine.trimmingASCIIWhitespace().unicodeScalars)
        guard !scalars.isEmpty else { throw TemplateError("missing a command") }
        if let words = try DirectCommandScanner.words(scalars) {
            return .direct(words: words)
        }
        var rewriter = ShellScriptRewriter(scalars, analysisOnly: false)
        try rewriter.run()
        return .shell(script: String(rewriter.output))
    }

    /// The largest N in the command's `$N` placeholders, 0 if none.
    public var highestParameter: Int { placeholderUse.highest }

    /// Whether the command contains `$0` (all parameters), so it accepts any
    /// number of parameters from `highestParameter` up.
    public var usesAllParameters: Bool { placeholderUse.usesAll }

    private var placeholderUse: (highest: Int, usesAll: Bool) {
        switch self {
        case .direct(let words):
            var highest = 0
            var usesAll = false
            for case let piece in words.flatMap(\.pieces) {
                switch piece {
                case .literal: break
                case .parameter(let number): highest = max(highest, number)
                case .allParameters: usesAll = true
                }
            }
            return (highest, usesAll)
        case .shell(let script):
            var scanner = ShellScriptRewriter(Array(script.unicodeScalars), analysisOnly: true)
            try? scanner.run()
            return (scanner.highest, scanner.usesAll)
        }
    }

    /// The argument vector for one run. The caller has already checked the
    /// parameter count (`CommandSpec.prepare` does); a missing parameter
    /// renders as empty text rather than trapping.
    public func render(instance: String, parameters: [String]) -> Invocation {
        switch self {
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
    static func placeholder(in text: [Unicode.Scalar], at index: Int) throws(TemplateError) -> (number: Int, end: Int)? {
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
            throw TemplateError("placeholder $\(digits) is too large: parameters are numbered 1 to \(CommandTemplate.maximumPlaceholder)")
        }
        return (number, braced ? cursor + 1 : cursor)
    }
}
