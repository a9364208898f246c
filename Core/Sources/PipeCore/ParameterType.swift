// What one client parameter may be. PCP's C pipe agent accepted only ASCII
// letters and digits in a parameter and spliced it into a /bin/sh command
// line; sysadmins wrote command lines that are safe only under that rule
// (`cat /var/log/$1`, `awk '/$1/' FILE`). So letters and digits stay the
// default, and everything wider is a type the sysadmin writes down with
// `param N = TYPE`, checked before anything runs.

/// The type of one parameter, from `param N = TYPE` in an `[instance NAME]`
/// section, or `.alnum` when there is none.
///
/// | configuration              | accepts                                                    | the command receives |
/// |----------------------------|------------------------------------------------------------|----------------------|
/// | *(none)* or `alnum`        | ASCII letters and digits, at least one                      | the text |
/// | `integer MIN..MAX`         | an optional sign and decimal digits, within the range      | the number in plain decimal (`+05` gives `5`) |
/// | `oneof A B C`              | exactly one of the listed words                             | the word |
/// | `word`                     | ASCII letters, digits and `_ . : @ + = % -`, not starting with `-`, no `..` | the text |
/// | `pattern REGEX`            | text the regular expression matches as a whole (RE2 syntax, linear time) | the text |
/// | `path under DIR`           | a path, relative to DIR or absolute inside DIR, that exists and resolves inside DIR without following anything out of it | the resolved absolute path |
/// | `pid`                      | the decimal id of a running process whose four uids are the client's and four gids among its groups (root: any) | the number |
/// | `blockdev`                 | the name of a block device in /sys/class/block (`sda`, `nvme0n1`, `dm-0`) | the name |
/// | `any`                      | any text without control characters                         | the text |
///
/// Where a placeholder may stand depends on the type (`Placement`): only
/// types whose values are plain words of letters and digits may be spliced
/// into a larger word, a quoted string or a shell command line.
public enum ParameterType: Sendable {
    case alnum
    case integer(ClosedRange<Int64>)
    case oneOf([String])
    case word
    case pattern(any CompiledPattern)
    /// `directory` is absolute and normalized (no trailing "/", no "." or ".." components).
    case path(under: String)
    case pid
    case blockDevice
    case any

    /// The type of a parameter without a `param N` rule.
    public static let `default` = ParameterType.alnum

    /// The type as the configuration spells it: `integer 1..60`.
    public var text: String {
        switch self {
        case .alnum: return "alnum"
        case .integer(let range): return "integer \(range.lowerBound)..\(range.upperBound)"
        case .oneOf(let values): return "oneof \(values.joined(separator: " "))"
        case .word: return "word"
        case .pattern(let compiled): return "pattern \(compiled.source)"
        case .path(let directory): return "path under \(directory)"
        case .pid: return "pid"
        case .blockDevice: return "blockdev"
        case .any: return "any"
        }
    }

    /// Whether every value this type accepts is a plain word that no shell
    /// and no common interpreter (awk, sed, perl, another sh -c) reads as
    /// syntax, and that cannot name a parent directory: letters and digits,
    /// a sign and digits, a listed word made of such characters, a device
    /// name. Only such values may be spliced into text (`Placement.embedded`).
    public var isPlainWord: Bool {
        switch self {
        case .alnum, .integer, .pid, .blockDevice: return true
        case .oneOf(let values): return values.allSatisfy(Self.isSpliceSafe)
        case .word, .pattern, .path, .any: return false
        }
    }

    /// Whether a parameter of this type may stand at `placement`.
    public func isAllowed(at placement: Placement) -> Bool {
        switch placement {
        case .wholeArgument: return true
        case .wholeShellWord:
            if case .path = self { return true }
            return isPlainWord
        case .embedded: return isPlainWord
        }
    }

    /// Letters, digits, `_`, and `-` or `.` inside: the characters a listed
    /// `oneof` word may have to be spliced into text.
    static func isSpliceSafe(_ value: String) -> Bool {
        guard let first = value.unicodeScalars.first, ASCII.isLetterOrDigit(first) || first == "_" else { return false }
        return value.unicodeScalars.allSatisfy { ASCII.isLetterOrDigit($0) || $0 == "_" || $0 == "-" || $0 == "." }
            && !value.contains("..")
    }
}

/// The outcome of checking one parameter value against its type.
public enum ParameterVerdict: Sendable, Equatable {
    /// The value the command receives (an integer in plain decimal, a path
    /// resolved).
    case accepted(String)
    /// Why not, phrased to follow "parameter N ('value') ".
    case refused(String)
}

/// What a parameter check needs to know about the machine: the agent asks
/// the system, tests give answers. Each answer comes from a few bounded
/// system calls.
public protocol ParameterFacts {
    /// Resolves `text` (absolute inside `directory`, or relative to it)
    /// without following any symbolic link or `..` out of `directory`, and
    /// returns the resolved absolute path, or why not (does not exist,
    /// leaves the directory, lies in a directory `client` may write to, so
    /// it could change between the check and the command's use of it).
    func resolvePath(_ text: String, under directory: String, for client: ClientIdentity) -> Result<String, FactRefusal>
    /// The uids and gids of process `pid`, or nil if there is no such process.
    func processCredentials(_ pid: Int32) -> ProcessCredentials?
    /// Whether /sys/class/block/`name` exists.
    func blockDeviceExists(_ name: String) -> Bool
}

/// Why a fact-based check failed, phrased to follow "parameter N ('value') ".
public struct FactRefusal: Error, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
}

extension ParameterType {
    /// Checks `value` (already free of control characters and within the
    /// length limit) for a request from `client`.
    public func check(_ value: String, client: ClientIdentity, facts: any ParameterFacts) -> ParameterVerdict {
        switch self {
        case .alnum:
            guard !value.isEmpty else {
                return .refused("is empty, and a parameter must hold at least one letter or digit")
            }
            return value.unicodeScalars.allSatisfy(ASCII.isLetterOrDigit)
                ? .accepted(value)
                : .refused(
                    "holds other characters than the letters and digits (A-Z, a-z, 0-9) that a parameter without a rule may have"
                )
        case .integer(let range):
            guard Self.isIntegerText(value), let number = Int64(value) else {
                return .refused(
                    "is not a whole number (expected an integer from \(range.lowerBound) to \(range.upperBound))")
            }
            guard range.contains(number) else {
                return .refused("is outside the range \(range.lowerBound) to \(range.upperBound)")
            }
            return .accepted(String(number))
        case .oneOf(let values):
            return values.contains(value)
                ? .accepted(value) : .refused("is not one of: \(values.joined(separator: ", "))")
        case .word:
            if value.isEmpty { return .refused("is empty") }
            if value.hasPrefix("-") { return .refused("starts with '-', which a word may not") }
            if value.contains("..") { return .refused("contains '..', which a word may not") }
            return value.unicodeScalars.allSatisfy(Self.isWordScalar)
                ? .accepted(value)
                : .refused(
                    "holds characters a word may not have (letters, digits and _ . : @ + = % - only)")
        case .pattern(let compiled):
            return compiled.matchesWhole(value)
                ? .accepted(value) : .refused("does not match the pattern \(compiled.source)")
        case .path(let directory):
            guard !value.isEmpty else { return .refused("is empty (expected a path under \(directory))") }
            switch facts.resolvePath(value, under: directory, for: client) {
            case .success(let resolved): return .accepted(resolved)
            case .failure(let refusal): return .refused(refusal.reason)
            }
        case .pid:
            guard !value.isEmpty, value.unicodeScalars.allSatisfy(ASCII.isDigit), value.utf8.count <= 10,
                let pid = Int32(value), pid > 0
            else {
                return .refused("is not a process id")
            }
            guard let credentials = facts.processCredentials(pid) else { return .refused("is not a running process") }
            if let refusal = credentials.refusal(for: client) { return .refused(refusal) }
            return .accepted(String(pid))
        case .blockDevice:
            guard let first = value.unicodeScalars.first, ASCII.isLetterOrDigit(first),
                value.utf8.count <= 64,
                value.unicodeScalars.allSatisfy({ ASCII.isLetterOrDigit($0) || $0 == "-" || $0 == "_" })
            else {
                return .refused("is not a block device name")
            }
            return facts.blockDeviceExists(value) ? .accepted(value) : .refused("is not a block device of this machine")
        case .any:
            return .accepted(value)
        }
    }

    /// Whether this type deliberately accepts a value starting with `-`
    /// (which the command could take as an option): a negative integer
    /// range, a listed word, a pattern that matches it. `any` accepts
    /// everything, so it does not count: a leading `-` then needs
    /// `allow_dash = yes` as well.
    public var acceptsLeadingDashExplicitly: Bool {
        switch self {
        case .integer(let range): return range.lowerBound < 0
        case .oneOf, .pattern: return true
        case .alnum, .word, .path, .pid, .blockDevice, .any: return false
        }
    }

    static func isIntegerText(_ text: String) -> Bool {
        var scalars = Substring(text).unicodeScalars[...]
        if let first = scalars.first, first == "+" || first == "-" { scalars = scalars.dropFirst() }
        return !scalars.isEmpty && scalars.count <= 19 && scalars.allSatisfy(ASCII.isDigit)
    }

    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        ASCII.isLetterOrDigit(scalar) || "_.:@+=%-".unicodeScalars.contains(scalar)
    }
}

/// ASCII character classes (PipeCore has no Foundation; Character's
/// properties would accept non-ASCII digits and letters).
enum ASCII {
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
    }
    static func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool { isLetter(scalar) || isDigit(scalar) }
}

// MARK: - Reading `param N = TYPE`

extension ParameterType: Equatable {
    /// Types are equal when the configuration spells them the same way
    /// (two compilations of one pattern are equal).
    public static func == (lhs: ParameterType, rhs: ParameterType) -> Bool { lhs.text == rhs.text }
}

extension ParameterType {
    /// The type names, for messages.
    static let names = "alnum, integer MIN..MAX, oneof A B C, word, pattern REGEX, path under DIR, pid, blockdev or any"

    /// Parses the text after `param N =`; patterns are compiled here, once,
    /// by `engine`.
    public static func parse(_ text: String, engine: any PatternEngine) throws(TemplateError) -> ParameterType {
        let trimmed = text.trimmingASCIIWhitespace()
        let (kind, rest) = ConfigText.splitFirstWord(trimmed)
        let argument = rest.trimmingASCIIWhitespace()
        func noArgument(_ type: ParameterType) throws(TemplateError) -> ParameterType {
            guard argument.isEmpty else { throw TemplateError("'\(kind)' takes nothing after it, not '\(argument)'") }
            return type
        }
        switch kind.lowercased() {
        case "alnum": return try noArgument(.alnum)
        case "word": return try noArgument(.word)
        case "pid": return try noArgument(.pid)
        case "blockdev": return try noArgument(.blockDevice)
        case "any": return try noArgument(.any)
        case "integer":
            let bounds = argument.split(separator: "..", maxSplits: 1, omittingEmptySubsequences: false)
            guard bounds.count == 2,
                let low = parseInteger(bounds[0].trimmingASCIIWhitespace()),
                let high = parseInteger(bounds[1].trimmingASCIIWhitespace())
            else {
                throw TemplateError(
                    "expected 'integer MIN..MAX' with whole numbers, like 'integer 1..60', not '\(trimmed)'")
            }
            guard low <= high else { throw TemplateError("the range \(low)..\(high) is empty: write MIN..MAX") }
            return .integer(low...high)
        case "oneof":
            let values = ConfigText.splitList(argument)
            guard !values.isEmpty else {
                throw TemplateError("expected the allowed values after 'oneof', like 'oneof sda sdb'")
            }
            return .oneOf(values)
        case "pattern":
            guard !argument.isEmpty else { throw TemplateError("expected a regular expression after 'pattern'") }
            guard argument.utf8.count <= engine.maximumPatternLength else {
                throw TemplateError("the pattern is longer than \(engine.maximumPatternLength) bytes")
            }
            do {
                return .pattern(try engine.compile(argument))
            } catch {
                throw TemplateError(error.message)
            }
        case "path":
            let (under, directory) = ConfigText.splitFirstWord(argument)
            guard under.lowercased() == "under", !directory.isEmpty else {
                throw TemplateError("expected 'path under DIR' with an absolute directory, like 'path under /var/log'")
            }
            return .path(under: try normalizedDirectory(directory))
        default:
            throw TemplateError("unknown parameter type '\(kind)': expected \(names)")
        }
    }

    private static func parseInteger(_ text: String) -> Int64? {
        isIntegerText(text) ? Int64(text) : nil
    }

    /// `/var//log/` -> `/var/log`; refuses relative paths and `.` or `..`
    /// components, which would make "under" mean something else than it
    /// reads.
    static func normalizedDirectory(_ text: String) throws(TemplateError) -> String {
        guard text.hasPrefix("/") else {
            throw TemplateError("the directory of 'path under' must be absolute, not '\(text)'")
        }
        let components = text.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw TemplateError("the directory of 'path under' may not contain '.' or '..' ('\(text)')")
        }
        guard !text.unicodeScalars.contains(where: { ConfigText.isBlank($0) }) else {
            throw TemplateError("the directory of 'path under' may not contain blanks ('\(text)')")
        }
        return "/" + components.joined(separator: "/")
    }
}
