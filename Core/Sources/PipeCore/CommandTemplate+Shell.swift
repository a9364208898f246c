/// Rewrites the placeholders of a shell command line into quoted
/// positional-parameter references, following the shell's own quoting rules
/// so that each reference is quoted for the context it sits in:
///
/// | context         | `$N`        | `$0`       |
/// |-----------------|-------------|------------|
/// | unquoted        | `"${N}"`    | `"$@"`     |
/// | double quotes   | `${N}`      | `$*`       |
/// | single quotes   | `'"${N}"'`  | `'"$*"'`   |
///
/// It tracks nested contexts (`$(...)`, backquotes, `${...}`, `$((...))`)
/// and rejects placeholders where no quoting makes them safe: in the program
/// name of a command, inside backquotes (whose backslash rules re-parse the
/// text), inside arithmetic (`$((..))`, `((..))`, `[[ ]]`, `let`: bash
/// evaluates such text as code), and in the arguments of `eval`, `.` and
/// `source`. Other direct uses of positional parameters (`$@`, `$*`,
/// `${1:-x}`, `${#1}`) are rejected: the agent could not quote them.
///
/// With `analysisOnly` it just counts placeholders (used on already
/// rewritten scripts) and never throws.
struct ShellScriptRewriter {
    enum Kind: Equatable {
        case top, commandSubstitution, backquote, arithmetic
        case doubleQuote, singleQuote, braceUnquoted, braceInDouble
    }

    struct Frame {
        var kind: Kind
        /// The text of this frame helps form a program name.
        var taintedAsCommand = false
        /// Why a placeholder may not appear here (inherited by nested frames).
        var forbidden: TemplateError?
        var parens = 0
        var cases = 0
        // Word tracking, only for .top, .commandSubstitution, .backquote
        var atCommandStart = true
        var inWord = false
        var wordIsCommand = false
        var wordIsRedirect = false
        var pendingRedirect = false
        var word: [Unicode.Scalar] = []
        var commandName: String?
        var inDoubleBracket = false

        var tracksWords: Bool { kind == .top || kind == .commandSubstitution || kind == .backquote }
    }

    static let evaluatingCommands: Set<String> = ["eval", ".", "source", "let"]
    /// Command words after which the next word is still a command name.
    static let prefixWords: Set<String> = [
        "if", "then", "else", "elif", "while", "until", "do", "!", "{", "time", "exec", "command", "builtin",
    ]
    static let marker: Unicode.Scalar = "\u{FFFC}"

    static let backquoteError = TemplateError(
        "a placeholder inside backquotes cannot be quoted safely: use $(...) instead of `...`")
    static let arithmeticError = TemplateError(
        "a placeholder inside arithmetic ($((...)), ((...)), [[ ]] or let) would be evaluated as code by bash: "
            + "pass it as an ordinary argument and check it with 'param N = integer MIN..MAX'")

    let input: [Unicode.Scalar]
    let analysisOnly: Bool
    var index = 0
    var output = String.UnicodeScalarView()
    var stack: [Frame] = [Frame(kind: .top)]
    var highest = 0
    var usesAll = false

    init(_ input: [Unicode.Scalar], analysisOnly: Bool) {
        self.input = input
        self.analysisOnly = analysisOnly
    }

    private var frame: Frame {
        get { stack[stack.count - 1] }
        set { stack[stack.count - 1] = newValue }
    }

    private func peek(_ offset: Int = 1) -> Unicode.Scalar? {
        index + offset < input.count ? input[index + offset] : nil
    }

    private mutating func emit(_ text: String) { output.append(contentsOf: text.unicodeScalars) }

    private mutating func copy(_ count: Int = 1) {
        let end = min(index + count, input.count)
        output.append(contentsOf: input[index..<end])
        index = end
    }

    private mutating func fail(_ error: TemplateError) throws(TemplateError) {
        if !analysisOnly { throw error }
    }

    // MARK: - Main loop

    mutating func run() throws(TemplateError) {
        while index < input.count {
            switch frame.kind {
            case .singleQuote: try singleQuoted()
            case .doubleQuote, .braceInDouble: try doubleQuoted()
            case .braceUnquoted: try braceUnquoted()
            case .arithmetic: try arithmetic()
            case .top, .commandSubstitution, .backquote: try unquoted()
            }
        }
        if frame.tracksWords { endWord() }
        guard stack.count > 1 else { return }
        switch frame.kind {
        case .singleQuote: try fail(TemplateError("a single quote (') is never closed"))
        case .doubleQuote: try fail(TemplateError("a double quote (\") is never closed"))
        case .backquote: try fail(TemplateError("a backquote (`) is never closed"))
        case .commandSubstitution: try fail(TemplateError("a '$(' is never closed with ')'"))
        case .arithmetic: try fail(TemplateError("a '((' is never closed with '))'"))
        case .braceUnquoted, .braceInDouble: try fail(TemplateError("a '${' is never closed with '}'"))
        case .top: break
        }
    }

    private mutating func singleQuoted() throws(TemplateError) {
        let scalar = input[index]
        if scalar == "'" {
            copy()
            stack.removeLast()
        } else if scalar == "$", let (number, end) = try PlaceholderSyntax.placeholder(in: input, at: index) {
            try placeholder(number, end: end)
        } else {
            copy()
        }
    }

    private mutating func doubleQuoted() throws(TemplateError) {
        switch input[index] {
        case "\"" where frame.kind == .doubleQuote:
            copy()
            stack.removeLast()
        case "\"":
            copy()
            push(.doubleQuote)
        case "}" where frame.kind == .braceInDouble:
            copy()
            stack.removeLast()
        case "\\":
            guard peek() != nil else { return try danglingBackslash() }
            copy(2)
        case "`":
            copy()
            push(.backquote)
        case "$":
            try dollar()
        default:
            copy()
        }
    }

    private mutating func braceUnquoted() throws(TemplateError) {
        if input[index] == "}" {
            copy()
            stack.removeLast()
        } else {
            try copyNested()
        }
    }

    private mutating func arithmetic() throws(TemplateError) {
        switch input[index] {
        case "(":
            frame.parens += 1
            copy()
        case ")" where frame.parens > 0:
            frame.parens -= 1
            copy()
        case ")" where peek() == ")":
            copy(2)
            stack.removeLast()
        default:
            try copyNested()
        }
    }

    /// Inside `${...}` and `$((...))`: quotes, backquotes, escapes and `$`
    /// open nested constructs just as they do at the top level; anything else
    /// is copied.
    private mutating func copyNested() throws(TemplateError) {
        switch input[index] {
        case "'":
            copy()
            push(.singleQuote)
        case "\"":
            copy()
            push(.doubleQuote)
        case "`":
            copy()
            push(.backquote)
        case "\\":
            guard peek() != nil else { return try danglingBackslash() }
            copy(2)
        case "$":
            try dollar()
        default:
            copy()
        }
    }

    private mutating func unquoted() throws(TemplateError) {
        let scalar = input[index]
        switch scalar {
        case " ", "\t":
            endWord()
            copy()
        case "\n", "\r", ";", "&", "|":
            endWord()
            startCommand()
            copy()
        case "(":
            if !frame.inWord && frame.atCommandStart && peek() == "(" {
                copy(2)
                push(.arithmetic)
            } else {
                endWord()
                frame.parens += 1
                startCommand()
                copy()
            }
        case ")":
            endWord()
            if frame.kind == .commandSubstitution && frame.parens == 0 && frame.cases == 0 {
                copy()
                stack.removeLast()
                return
            }
            if frame.parens > 0 { frame.parens -= 1 }
            startCommand()
            copy()
        case "<", ">":
            endWord(beforeRedirection: true)
            frame.pendingRedirect = true
            copy()
        case "#" where !frame.inWord:
            copy(input.count - index)
        case "'", "\"":
            startWord()
            frame.word.append(Self.marker)
            copy()
            push(scalar == "'" ? .singleQuote : .doubleQuote)
        case "`":
            if frame.kind == .backquote {
                endWord()
                copy()
                stack.removeLast()
            } else {
                startWord()
                frame.word.append(Self.marker)
                copy()
                push(.backquote)
            }
        case "\\":
            guard let next = peek() else { return try danglingBackslash() }
            startWord()
            if frame.kind == .backquote, next == "$",
               (try? PlaceholderSyntax.placeholder(in: input, at: index + 1)) != nil {
                try fail(Self.backquoteError)
            }
            frame.word.append(Self.marker)
            copy(2)
        case "$":
            startWord()
            frame.word.append(Self.marker)
            try dollar()
        default:
            startWord()
            frame.word.append(scalar)
            copy()
        }
    }

    private mutating func danglingBackslash() throws(TemplateError) {
        try fail(TemplateError("the command ends with a backslash that escapes nothing"))
        copy()
    }

    // MARK: - Dollar signs

    private mutating func dollar() throws(TemplateError) {
        if let (number, end) = try PlaceholderSyntax.placeholder(in: input, at: index) {
            return try placeholder(number, end: end)
        }
        switch peek() {
        case "@", "*":
            if analysisOnly {
                usesAll = true
            } else {
                try fail(TemplateError(
                    "'$\(peek()!)' would hand the client's parameters to the shell unquoted: write $0 for all parameters"))
            }
            copy(2)
        case "'":
            try fail(TemplateError(
                "$'...' quoting means different things to different shells: use ordinary quotes"))
            copy()
        case "$":
            copy(2)
        case "(":
            if peek(2) == "(" {
                copy(3)
                push(.arithmetic)
            } else {
                copy(2)
                push(.commandSubstitution)
            }
        case "{":
            var cursor = index + 2
            if cursor < input.count, input[cursor] == "#" || input[cursor] == "!" { cursor += 1 }
            if cursor < input.count,
               PlaceholderSyntax.isDigit(input[cursor]) || input[cursor] == "@" || input[cursor] == "*" {
                try fail(TemplateError(
                    "'\(String(String.UnicodeScalarView(input[index..<min(index + 6, input.count)])))...' applies "
                        + "shell operators to a client parameter, which the agent cannot quote: write a plain $N"))
            }
            let inDouble = frame.kind == .doubleQuote || frame.kind == .braceInDouble
            copy(2)
            push(inDouble ? .braceInDouble : .braceUnquoted)
        default:
            copy()
        }
    }

    private mutating func placeholder(_ number: Int, end: Int) throws(TemplateError) {
        if number == 0 { usesAll = true } else { highest = max(highest, number) }
        if !analysisOnly {
            if let forbidden = frame.forbidden ?? forbiddenHere(frame) { throw forbidden }
            let namesProgram = frame.taintedAsCommand || (frame.tracksWords && frame.inWord && frame.wordIsCommand)
            if namesProgram { throw DirectCommandScanner.misplacedProgram }
        }
        let reference: String
        switch frame.kind {
        case .singleQuote:
            reference = number == 0 ? "'\"$*\"'" : "'\"${\(number)}\"'"
        case .doubleQuote, .braceInDouble:
            reference = number == 0 ? "$*" : "${\(number)}"
        case .top, .commandSubstitution, .backquote, .arithmetic, .braceUnquoted:
            reference = number == 0 ? "\"$@\"" : "\"${\(number)}\""
        }
        emit(reference)
        index = end
    }

    /// The reason a placeholder cannot sit in this frame, from the frame's own state.
    private func forbiddenHere(_ frame: Frame) -> TemplateError? {
        switch frame.kind {
        case .arithmetic: return Self.arithmeticError
        case .backquote: return Self.backquoteError
        default: break
        }
        guard frame.tracksWords else { return nil }
        if frame.inDoubleBracket { return Self.arithmeticError }
        if let name = frame.commandName, Self.evaluatingCommands.contains(name) {
            if name == "let" { return Self.arithmeticError }
            return TemplateError(
                "a placeholder in the arguments of '\(name)' would be run as shell code: pass it as an ordinary argument")
        }
        return nil
    }

    private mutating func push(_ kind: Kind) {
        let parent = frame
        var child = Frame(kind: kind)
        child.taintedAsCommand = parent.taintedAsCommand
            || (parent.tracksWords && parent.inWord && parent.wordIsCommand)
        child.forbidden = parent.forbidden ?? forbiddenHere(parent)
        stack.append(child)
    }

    // MARK: - Words and command positions

    private mutating func startCommand() {
        frame.atCommandStart = true
        frame.commandName = nil
        frame.inDoubleBracket = false
    }

    private mutating func startWord() {
        guard !frame.inWord else { return }
        frame.inWord = true
        frame.word = []
        if frame.pendingRedirect {
            frame.pendingRedirect = false
            frame.wordIsRedirect = true
            frame.wordIsCommand = false
        } else {
            frame.wordIsRedirect = false
            frame.wordIsCommand = frame.atCommandStart
        }
    }

    private mutating func endWord(beforeRedirection: Bool = false) {
        guard frame.inWord else { return }
        frame.inWord = false
        let word = String(String.UnicodeScalarView(frame.word))
        if beforeRedirection && !word.isEmpty && word.unicodeScalars.allSatisfy(PlaceholderSyntax.isDigit) { return }
        if frame.wordIsRedirect { return }
        if frame.inDoubleBracket && word == "]]" { frame.inDoubleBracket = false }
        guard frame.wordIsCommand else { return }
        switch word {
        case _ where Self.prefixWords.contains(word):
            frame.atCommandStart = true
        case "case":
            frame.cases += 1
            frame.atCommandStart = false
        case "esac":
            frame.cases = max(0, frame.cases - 1)
            frame.atCommandStart = false
        case "[[":
            frame.inDoubleBracket = true
            frame.atCommandStart = false
        default:
            if Self.isAssignment(word) {
                frame.atCommandStart = true
            } else {
                frame.atCommandStart = false
                frame.commandName = word
            }
        }
    }

    private static func isAssignment(_ word: String) -> Bool {
        let scalars = Array(word.unicodeScalars)
        guard let equals = scalars.firstIndex(of: "="), equals > 0 else { return false }
        let isLetter: (Unicode.Scalar) -> Bool = { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || $0 == "_" }
        guard isLetter(scalars[0]) else { return false }
        return scalars[..<equals].allSatisfy { isLetter($0) || PlaceholderSyntax.isDigit($0) }
    }
}
