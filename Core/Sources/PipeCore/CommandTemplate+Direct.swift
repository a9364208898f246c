/// Decides whether a command line is plain words that can run without a
/// shell, and if so splits it into `Word`s.
enum DirectCommandScanner {
    /// Characters that give a command line shell meaning (outside `$N`).
    static let shellCharacters: Set<Unicode.Scalar> = [
        "|", "&", ";", "<", ">", "(", ")", "$", "`", "\\", "\"", "'", "*", "?", "[", "\n", "\r",
    ]

    /// Words the shell treats as syntax when they come first.
    static let reservedWords: Set<String> = [
        "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
        "{", "}", "!", "[[", "function", "select", "time",
    ]

    static let misplacedProgram = TemplateError("the program name cannot come from a parameter")

    /// The words, or nil when the text needs a shell.
    static func words(_ text: [Unicode.Scalar]) throws(TemplateError) -> [Word]? {
        var words: [Word] = []
        var raw: [[Unicode.Scalar]] = []
        var pieces: [WordPiece] = []
        var literal = String.UnicodeScalarView()
        var rawWord: [Unicode.Scalar] = []

        func flushLiteral() {
            if !literal.isEmpty { pieces.append(.literal(String(literal))) }
            literal = String.UnicodeScalarView()
        }
        func finishWord() {
            flushLiteral()
            if !rawWord.isEmpty {
                words.append(Word(pieces: pieces))
                raw.append(rawWord)
            }
            pieces = []
            rawWord = []
        }

        var index = 0
        while index < text.count {
            let scalar = text[index]
            if scalar == " " || scalar == "\t" {
                finishWord()
                index += 1
            } else if scalar == "$" {
                guard let (number, end) = try PlaceholderSyntax.placeholder(in: text, at: index) else { return nil }
                flushLiteral()
                pieces.append(number == 0 ? .allParameters : .parameter(number))
                rawWord.append(contentsOf: text[index..<end])
                index = end
            } else if shellCharacters.contains(scalar) {
                return nil
            } else {
                literal.append(scalar)
                rawWord.append(scalar)
                index += 1
            }
        }
        finishWord()

        if raw.contains(where: { $0.first == "#" || $0.first == "~" }) { return nil }
        guard let first = raw.first else { return nil }
        let firstText = String(String.UnicodeScalarView(first))
        if first.contains("=") || reservedWords.contains(firstText) { return nil }
        if words[0].containsPlaceholder { throw misplacedProgram }
        return words
    }
}
