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

    /// Validates client parameters against limits + options and renders the argv.
    ///
    /// Checks, in order: the count (against the template and
    /// `limits.maxParameters`), control characters, lengths, a leading `-`
    /// (refused unless `allowLeadingDash` or the parameter's rule accepts the
    /// value), then each parameter's rule.
    public func prepare(parameters: [String], limits: GlobalLimits) throws(ParameterError) -> Invocation {
        let count = parameters.count
        if count > limits.maxParameters { throw .tooMany(max: limits.maxParameters, got: count) }
        if count < template.highestParameter { throw .tooFew(needed: template.highestParameter, got: count) }
        if count > template.highestParameter && !template.usesAllParameters {
            throw .tooMany(max: template.highestParameter, got: count)
        }
        for (offset, parameter) in parameters.enumerated() {
            if let control = parameter.unicodeScalars.first(where: ParameterParser.isControl) {
                throw .controlCharacter(parameter: offset + 1, scalar: control.value)
            }
            if parameter.utf8.count > limits.maxParameterLength {
                throw .tooLong(parameter: offset + 1, max: limits.maxParameterLength)
            }
        }
        for (offset, parameter) in parameters.enumerated() {
            let number = offset + 1
            let rule = options.parameterRules[number]
            let verdict = rule?.check(parameter)
            if parameter.unicodeScalars.first == "-" && !options.allowLeadingDash && (rule == nil || verdict != nil) {
                throw .leadingDash(parameter: number)
            }
            if let verdict { throw .rejected(parameter: number, value: parameter, reason: verdict) }
        }
        return template.render(instance: name, parameters: parameters)
    }
}
