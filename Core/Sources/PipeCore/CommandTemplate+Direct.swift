/// Decides whether a command line is plain words that can run without a
/// shell, and if so splits it into `Word`s.
enum DirectCommandScanner {
    /// Characters that give a command line shell meaning (outside `$N`).
    static let shellCharacters: Set<Unicode.Scalar> = [
        "|", "&", ";", "<", ">", "(", ")", "$", "`", "\\", "\"", "'", "*", "?", "[", "\n", "\r",
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
        // PCP's agent ran every line through /bin/sh, so a first word that
        // only a shell understands (`exit`, `for`, `cd`) still means the shell.
        if first.contains("=") || ShellWords.shellOnly.contains(firstText) { return nil }
        if words[0].containsPlaceholder { throw misplacedProgram }
        return words
    }

    /// Each placeholder of `words` and where it stands.
    static func uses(of words: [Word]) -> [PlaceholderUse] {
        var uses: [PlaceholderUse] = []
        for word in words {
            let whole = word.pieces.count == 1
            for piece in word.pieces {
                let number: Int
                switch piece {
                case .literal: continue
                case .parameter(let n): number = n
                case .allParameters: number = 0
                }
                let placement: Placement =
                    whole
                    ? .wholeArgument : .embedded(context: "inside the word '\(word.text)'")
                uses.append(PlaceholderUse(number: number, placement: placement))
            }
        }
        return uses
    }

    /// The words as the command-word check reads them, with the index in
    /// `uses(of:)` of each placeholder.
    static func commandWords(_ words: [Word]) -> [CommandWord] {
        var next = 0
        return words.map { word in
            var prefix = ""
            var seenPlaceholder = false
            var indexes: [Int] = []
            var first = ""
            for piece in word.pieces {
                switch piece {
                case .literal(let text): if !seenPlaceholder { prefix += text }
                case .parameter(let number):
                    if !seenPlaceholder { first = "$\(number)" }
                    seenPlaceholder = true
                    indexes.append(next)
                    next += 1
                case .allParameters:
                    if !seenPlaceholder { first = "$0" }
                    seenPlaceholder = true
                    indexes.append(next)
                    next += 1
                }
            }
            return CommandWord(
                prefix: prefix, isLiteral: !seenPlaceholder, hasPlaceholder: seenPlaceholder,
                isOnlyPlaceholder: word.pieces.count == 1 && seenPlaceholder, useIndexes: indexes,
                firstPlaceholder: first, template: word.text)
        }
    }
}
