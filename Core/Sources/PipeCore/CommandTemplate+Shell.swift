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
/// evaluates such text as code), in the arguments of `eval`, `.`, `source`
/// and `trap` (however the name is quoted: `"eval"`, `e\val`), in the
/// arguments of a command whose name is computed (`$CMD $1`), and as the
/// whole script of `sh -c`. Other direct uses of positional parameters
/// (`$@`, `$*`, `${1:-x}`, `${#1}`) are rejected: the agent could not quote
/// them.
///
/// It records where each placeholder stands (`uses`): a whole word (`$1`,
/// `"$1"`) of the script itself, or embedded in text.
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
        /// Where this frame sits, for `Placement.embedded` (inherited).
        var embedding: String?
        var parens = 0
        var cases = 0
        /// For quote frames: the input index of the opening quote.
        var openedAt = 0
        // Word tracking, only for .top, .commandSubstitution, .backquote
        var atCommandStart = true
        var inWord = false
        var wordIsCommand = false
        var wordIsRedirect = false
        var pendingRedirect = false
        /// Input index where the current word starts.
        var wordStart = 0
        /// The current word with quotes and backslashes removed, as the
        /// shell will see it (`"eval"` and `e\val` are `eval`)...
        var dequoted: [Unicode.Scalar] = []
        /// The same text with each placeholder kept as written (`ls /srv/$1`),
        /// for reading a script argument as a command line of its own.
        var templated: [Unicode.Scalar] = []
        /// ...unless it contains an expansion, whose value is not known here.
        var dynamic = false
        /// The command of the current simple command: its dequoted name, or
        /// nil once it is known to be computed (`$CMD`).
        var commandName: String?
        var commandIsDynamic = false
        /// The previous word of the current simple command (for `sh -c`).
        var previousWord: String?
        var inDoubleBracket = false
        /// The words of the current simple command, from its name on, for
        /// the command-word check (`CommandWords`).
        var commandWords: [CommandWord] = []
        /// The current word's placeholders: how many, their `uses` indexes,
        /// the first as written, and the text before the first placeholder
        /// or expansion (nil while there is none).
        var wordPlaceholders = 0
        var wordUses: [Int] = []
        var wordFirstPlaceholder = ""
        var wordPrefix: String?
        /// The current word holds an expansion other than a placeholder.
        var wordExpansion = false

        var tracksWords: Bool { kind == .top || kind == .commandSubstitution || kind == .backquote }
    }
    /// Command words after which the next word is still a command name.
    /// (`exec`, `command`, `builtin` and `time` are wrappers: `CommandWords`
    /// reads their options.)
    static let prefixWords: Set<String> = [
        "if", "then", "else", "elif", "while", "until", "do", "!", "{",
    ]

    static let backquoteError = TemplateError(
        "a placeholder inside backquotes cannot be quoted safely: use $(...) instead of `...`")
    static let arithmeticError = TemplateError(
        "a placeholder inside arithmetic ($((...)), ((...)), [[ ]] or let) would be evaluated as code by bash: "
            + "pass it as an ordinary argument and check it with 'param N = integer MIN..MAX'")

    let input: [Unicode.Scalar]
    var index = 0
    var output = String.UnicodeScalarView()
    var stack: [Frame] = [Frame(kind: .top)]
    /// Every placeholder found, in order, with where it stands.
    private(set) var uses: [PlaceholderUse] = []

    init(_ input: [Unicode.Scalar]) {
        self.input = input
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

    private func fail(_ error: TemplateError) throws(TemplateError) -> Never {
        throw error
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
        if frame.tracksWords {
            endWord()
            try finishCommand()
        }
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
            pop()
        } else if scalar == "$", let (number, end) = try PlaceholderSyntax.placeholder(in: input, at: index) {
            frame.dynamic = true
            try placeholder(number, end: end)
        } else {
            frame.dequoted.append(scalar)
            frame.templated.append(scalar)
            copy()
        }
    }

    private mutating func doubleQuoted() throws(TemplateError) {
        let scalar = input[index]
        switch scalar {
        case "\"" where frame.kind == .doubleQuote:
            copy()
            pop()
        case "\"":
            push(.doubleQuote)
            copy()
        case "}" where frame.kind == .braceInDouble:
            copy()
            pop()
        case "\\":
            guard let next = peek() else { try danglingBackslash() }
            frame.dequoted.append(next)
            frame.templated.append(next)
            copy(2)
        case "`":
            frame.dynamic = true
            noteInWord()
            push(.backquote)
            copy()
        case "$":
            frame.dynamic = true
            try dollar()
        default:
            frame.dequoted.append(scalar)
            frame.templated.append(scalar)
            copy()
        }
    }

    private mutating func braceUnquoted() throws(TemplateError) {
        if input[index] == "}" {
            copy()
            pop()
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
            pop()
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
            push(.singleQuote)
            copy()
        case "\"":
            push(.doubleQuote)
            copy()
        case "`":
            push(.backquote)
            copy()
        case "\\":
            guard peek() != nil else { try danglingBackslash() }
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
            try startCommand()
            copy()
        case "(":
            if !frame.inWord && frame.atCommandStart && peek() == "(" {
                push(.arithmetic)
                copy(2)
            } else {
                endWord()
                frame.parens += 1
                try startCommand()
                copy()
            }
        case ")":
            endWord()
            if frame.kind == .commandSubstitution && frame.parens == 0 && frame.cases == 0 {
                try finishCommand()
                copy()
                pop()
                return
            }
            if frame.parens > 0 { frame.parens -= 1 }
            try startCommand()
            copy()
        case "<", ">":
            endWord(beforeRedirection: true)
            frame.pendingRedirect = true
            copy()
        case "#" where !frame.inWord:
            copy(input.count - index)
        case "'", "\"":
            startWord()
            push(scalar == "'" ? .singleQuote : .doubleQuote)
            copy()
        case "`":
            if frame.kind == .backquote {
                endWord()
                try finishCommand()
                copy()
                pop()
            } else {
                startWord()
                frame.dynamic = true
                noteInWord()
                push(.backquote)
                copy()
            }
        case "\\":
            guard let next = peek() else { try danglingBackslash() }
            startWord()
            if frame.kind == .backquote, next == "$",
                (try? PlaceholderSyntax.placeholder(in: input, at: index + 1)) != nil
            {
                try fail(Self.backquoteError)
            }
            if next != "\n" {
                frame.dequoted.append(next)
                frame.templated.append(next)
            }
            copy(2)
        case "$":
            startWord()
            frame.dynamic = true
            try dollar()
        default:
            startWord()
            frame.dequoted.append(scalar)
            frame.templated.append(scalar)
            copy()
        }
    }

    private func danglingBackslash() throws(TemplateError) -> Never {
        try fail(TemplateError("the command ends with a backslash that escapes nothing"))
    }

    // MARK: - Dollar signs

    private mutating func dollar() throws(TemplateError) {
        if let (number, end) = try PlaceholderSyntax.placeholder(in: input, at: index) {
            return try placeholder(number, end: end)
        }
        noteInWord()
        switch peek() {
        case "@", "*":
            try fail(
                TemplateError(
                    "'$\(peek()!)' would hand the client's parameters to the shell unquoted: write $0 for all parameters"
                ))
        case "'":
            try fail(
                TemplateError(
                    "$'...' quoting means different things to different shells: use ordinary quotes"))
        case "$":
            copy(2)
        case "(":
            if peek(2) == "(" {
                push(.arithmetic)
                copy(3)
            } else {
                push(.commandSubstitution)
                copy(2)
            }
        case "{":
            var cursor = index + 2
            if cursor < input.count, input[cursor] == "#" || input[cursor] == "!" { cursor += 1 }
            if cursor < input.count,
                PlaceholderSyntax.isDigit(input[cursor]) || input[cursor] == "@" || input[cursor] == "*"
            {
                try fail(
                    TemplateError(
                        "'\(String(String.UnicodeScalarView(input[index..<min(index + 6, input.count)])))...' applies "
                            + "shell operators to a client parameter, which the agent cannot quote: write a plain $N"))
            }
            let inDouble = frame.kind == .doubleQuote || frame.kind == .braceInDouble
            push(inDouble ? .braceInDouble : .braceUnquoted)
            copy(2)
        default:
            copy()
        }
    }

    private mutating func placeholder(_ number: Int, end: Int) throws(TemplateError) {
        if let forbidden = frame.forbidden ?? forbiddenHere(frame) { throw forbidden }
        let namesProgram = frame.taintedAsCommand || (frame.tracksWords && frame.inWord && frame.wordIsCommand)
        if namesProgram { throw DirectCommandScanner.misplacedProgram }
        let placement = placementHere(end: end)
        let written = number == 0 ? "$0" : "$\(number)"
        noteInWord(placeholder: written)
        frame.templated.append(contentsOf: written.unicodeScalars)
        uses.append(PlaceholderUse(number: number, placement: placement))
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

    /// Where the placeholder at `index` (ending at `end`) stands. (Whether a
    /// whole word is the script of `sh -c` is the command-word check's, at
    /// the end of the command.)
    private func placementHere(end: Int) -> Placement {
        var whole = false
        var context = "inside a nested construct of the shell command line"
        switch frame.kind {
        case .top, .commandSubstitution:
            whole = frame.wordStart == index && wordEnds(at: end)
            context = "inside a larger word"
        case .doubleQuote where stack.count >= 2 && stack[stack.count - 2].tracksWords:
            let parent = stack[stack.count - 2]
            whole =
                parent.wordStart == frame.openedAt && frame.openedAt + 1 == index
                && end < input.count && input[end] == "\"" && wordEnds(at: end + 1)
            context = "inside a double-quoted string with other text"
        case .singleQuote:
            context = "inside single quotes (substituted into text that a command reads, as PCP's agent did)"
        case .braceUnquoted, .braceInDouble:
            context = "inside ${...}"
        default:
            break
        }
        if let embedding = frame.embedding { return .embedded(context: embedding) }
        return whole ? .wholeShellWord : .embedded(context: context)
    }

    private func wordEnds(at position: Int) -> Bool {
        guard position < input.count else { return true }
        return " \t\n\r;&|)<>".unicodeScalars.contains(input[position])
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
        guard frame.inWord ? !frame.wordIsCommand : true else { return nil }
        if frame.commandIsDynamic {
            return TemplateError(
                "the command that would get this parameter is named by an expansion ($VAR, $(...)), so the agent "
                    + "cannot tell what reads it: name the command literally")
        }
        if let name = frame.commandName {
            if name == "let" { return Self.arithmeticError }
            if ShellWords.evaluating.contains(name) {
                return TemplateError(
                    "a placeholder in the arguments of '\(name)' would be run as shell code: pass it as an ordinary argument"
                )
            }
        }
        return nil
    }

    private mutating func push(_ kind: Kind) {
        let parent = frame
        var child = Frame(kind: kind)
        child.openedAt = index
        child.taintedAsCommand =
            parent.taintedAsCommand
            || (parent.tracksWords && parent.inWord && parent.wordIsCommand)
        child.forbidden = parent.forbidden ?? forbiddenHere(parent)
        child.embedding = parent.embedding ?? scriptEmbedding(parent)
        stack.append(child)
    }

    /// Text inside the script argument of `sh -c` is read by another shell.
    private func scriptEmbedding(_ parent: Frame) -> String? {
        guard parent.tracksWords, parent.inWord, !parent.wordIsCommand,
            let shell = parent.commandName, ShellWords.shells.contains(CommandWords.baseName(shell)),
            let previous = parent.previousWord, ShellWords.isScriptFlag(previous)
        else { return nil }
        return "inside the script that '\(CommandWords.baseName(shell)) -c' runs"
    }

    /// Leaves a quote or nested frame: what it contributed to the word it
    /// sits in goes to the enclosing frame.
    private mutating func pop() {
        let child = stack.removeLast()
        switch child.kind {
        case .singleQuote, .doubleQuote:
            frame.dequoted.append(contentsOf: child.dequoted)
            frame.templated.append(contentsOf: child.templated)
            if child.dynamic { frame.dynamic = true }
        default:
            frame.dynamic = true
        }
    }

    // MARK: - Words and command positions

    /// The innermost frame that tracks words: the word a placeholder or an
    /// expansion belongs to.
    private var wordFrameIndex: Int? { stack.lastIndex { $0.tracksWords } }

    /// Records a placeholder (`placeholder` set) or another expansion in the
    /// word being read, for the command-word check.
    private mutating func noteInWord(placeholder: String? = nil) {
        guard let owner = wordFrameIndex, stack[owner].inWord else { return }
        if stack[owner].wordPrefix == nil {
            // The text so far: the word's own, then that of the quotes it has open.
            let open = stack[owner...]
            let quotesOnly = open.dropFirst().allSatisfy { $0.kind == .singleQuote || $0.kind == .doubleQuote }
            let text = quotesOnly ? open.flatMap(\.dequoted) : stack[owner].dequoted
            stack[owner].wordPrefix = String(String.UnicodeScalarView(text))
            if !quotesOnly { stack[owner].wordExpansion = true }
        }
        if let placeholder {
            if stack[owner].wordPlaceholders == 0 { stack[owner].wordFirstPlaceholder = placeholder }
            stack[owner].wordPlaceholders += 1
            stack[owner].wordUses.append(uses.count)
        } else {
            stack[owner].wordExpansion = true
        }
    }

    /// Ends a simple command: the command-word check over its words, whose
    /// verdict may make some uses embedded.
    private mutating func finishCommand() throws(TemplateError) {
        let words = frame.commandWords
        frame.commandWords = []
        guard !words.isEmpty else { return }
        for (use, context) in try CommandWords.check(words) {
            // A use already embedded keeps the context that says where.
            guard case .wholeShellWord = uses[use].placement else { continue }
            uses[use].placement = .embedded(context: context)
        }
    }

    private mutating func startCommand() throws(TemplateError) {
        try finishCommand()
        frame.atCommandStart = true
        frame.commandName = nil
        frame.commandIsDynamic = false
        frame.previousWord = nil
        frame.inDoubleBracket = false
    }

    private mutating func startWord() {
        guard !frame.inWord else { return }
        frame.inWord = true
        frame.wordStart = index
        frame.dequoted = []
        frame.templated = []
        frame.dynamic = false
        frame.wordPlaceholders = 0
        frame.wordUses = []
        frame.wordFirstPlaceholder = ""
        frame.wordPrefix = nil
        frame.wordExpansion = false
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
        let word = String(String.UnicodeScalarView(frame.dequoted))
        let dynamic = frame.dynamic
        let commandWord = CommandWord(
            prefix: frame.wordPrefix ?? word, isLiteral: !dynamic, hasPlaceholder: frame.wordPlaceholders > 0,
            isOnlyPlaceholder: frame.wordPlaceholders == 1 && !frame.wordExpansion && frame.dequoted.isEmpty,
            useIndexes: frame.wordUses, firstPlaceholder: frame.wordFirstPlaceholder,
            template: frame.wordExpansion ? nil : String(String.UnicodeScalarView(frame.templated)))
        if beforeRedirection && !dynamic && !word.isEmpty && word.unicodeScalars.allSatisfy(PlaceholderSyntax.isDigit) {
            return
        }
        if frame.wordIsRedirect { return }
        if frame.inDoubleBracket && word == "]]" { frame.inDoubleBracket = false }
        guard frame.wordIsCommand else {
            frame.previousWord = dynamic ? nil : word
            if !frame.commandWords.isEmpty { frame.commandWords.append(commandWord) }
            return
        }
        if dynamic && !CommandWords.isAssignment(word) {
            frame.atCommandStart = false
            frame.commandName = nil
            frame.commandIsDynamic = true
            frame.commandWords = [commandWord]
            return
        }
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
            if CommandWords.isAssignment(word) {
                frame.atCommandStart = true
            } else {
                frame.atCommandStart = false
                frame.commandName = word
                frame.previousWord = word
                frame.commandWords = [commandWord]
            }
        }
    }

}
