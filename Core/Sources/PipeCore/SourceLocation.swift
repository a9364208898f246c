/// A line of a configuration file, for error messages and audit records.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `file:line`
    public var description: String { "\(file):\(line)" }
}
