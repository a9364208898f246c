/// A command line (or a parameter rule) in the configuration that cannot be
/// used. The message says what is wrong and what to write instead; the
/// configuration parser adds the file and line.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
