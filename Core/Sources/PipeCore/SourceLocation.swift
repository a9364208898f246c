/// A line of a configuration file, for messages and audit records.
/// Locations order by the file's place in the load order, then by line.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let file: String
    public let line: Int
    /// The file's position among the files read (pipe.conf first, then the
    /// drop-ins in name order).
    public let fileOrder: Int

    public init(file: String, line: Int, fileOrder: Int = 0) {
        self.file = file
        self.line = line
        self.fileOrder = fileOrder
    }

    /// `file:line`
    public var description: String { "\(file):\(line)" }

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.fileOrder, lhs.line) < (rhs.fileOrder, rhs.line)
    }
}
