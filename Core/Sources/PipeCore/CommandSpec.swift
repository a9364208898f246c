/// One configured instance: a name clients ask for, the account it runs
/// as, and the command line with its options.
public struct CommandSpec: Sendable {
    public let name: String
    /// The account the command runs as.
    public let user: String
    /// As written in the file, trimmed.
    public let commandLine: String
    public let template: CommandTemplate
    public var options: InstanceOptions
    public let location: SourceLocation
    /// Where `queue` was set, for the check that spans settings.
    var queueLocation: SourceLocation?

    public init(
        name: String, user: String, commandLine: String, template: CommandTemplate,
        options: InstanceOptions = InstanceOptions(), location: SourceLocation
    ) {
        self.name = name
        self.user = user
        self.commandLine = commandLine
        self.template = template
        self.options = options
        self.location = location
    }
}
