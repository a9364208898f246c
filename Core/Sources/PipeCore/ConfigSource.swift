/// The text of one configuration file and the name to cite in messages
/// (normally its path). PipeCore reads no files; the caller does.
public struct ConfigSource: Sendable {
    public var name: String
    public var text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}
