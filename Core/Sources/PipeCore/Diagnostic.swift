/// A message about the configuration, tied to the place it is about: an
/// error (the configuration, or at start-up the file, is refused) or a
/// warning (valid, but probably not what the sysadmin meant; logged, and
/// printed by `pmdapipe -C`).
public struct Diagnostic: Error, Sendable, Equatable, Comparable, CustomStringConvertible {
    public enum Severity: Sendable, Equatable { case error, warning }

    public let severity: Severity
    /// nil: about the configuration as a whole.
    public let location: SourceLocation?
    public let message: String

    public init(_ severity: Severity, at location: SourceLocation?, _ message: String) {
        self.severity = severity
        self.location = location
        self.message = message
    }

    /// `file:line: message`
    public var description: String {
        guard let location else { return message }
        return "\(location): \(message)"
    }

    /// In file and line order; messages about the whole configuration last.
    public static func < (lhs: Diagnostic, rhs: Diagnostic) -> Bool {
        switch (lhs.location, rhs.location) {
        case (let left?, let right?): return left < right
        case (.some, nil): return true
        default: return false
        }
    }
}

/// Every error found in a configuration, in file and line order. The agent
/// refuses a configuration (or, at start-up, the files) with any of them.
public struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [Diagnostic]

    public init(errors: [Diagnostic]) { self.errors = errors.sorted() }

    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }

    /// The names of the files the errors are in, in load order.
    public var files: [String] {
        var seen: [String] = []
        for case let location? in errors.map(\.location) where !seen.contains(location.file) {
            seen.append(location.file)
        }
        return seen
    }
}
