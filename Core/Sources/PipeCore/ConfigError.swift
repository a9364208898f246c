/// A message about the configuration, tied to the place it is about.
public protocol LocatedMessage: CustomStringConvertible {
    var location: SourceLocation? { get }
    var message: String { get }
}

extension LocatedMessage {
    /// `file:line: message`
    public var description: String {
        guard let location else { return message }
        return "\(location): \(message)"
    }
}

/// One problem in the configuration: where, what is wrong, and what is expected.
public struct ConfigError: Error, Sendable, Equatable, LocatedMessage {
    public let location: SourceLocation?
    public let message: String

    public init(location: SourceLocation?, message: String) {
        self.location = location
        self.message = message
    }
}

/// Every problem found in a configuration, in file and line order. The agent
/// refuses to start (or to reload) with any of them.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigError]

    public init(errors: [ConfigError]) { self.errors = errors }

    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A warning about a configuration that is valid but probably not what the
/// sysadmin meant; the agent logs it and runs.
public struct ConfigDiagnostic: Sendable, Equatable, LocatedMessage {
    public let location: SourceLocation?
    public let message: String

    public init(location: SourceLocation?, message: String) {
        self.location = location
        self.message = message
    }
}
