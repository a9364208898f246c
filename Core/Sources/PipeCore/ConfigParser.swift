/// Reads configuration files line by line into a `Configuration`.
///
/// Pass one reads every file: commands, access rules and limits directly,
/// `[instance NAME]` settings kept aside. Pass two (`finish`) applies those
/// settings, which may refer to commands in any file, and checks what spans
/// files. Errors are kept with a sort key so that they come out in file and
/// line order whichever pass found them.
struct ConfigParser {
    private enum Section {
        case commands, access, limits
        /// Index into `blocks`, or nil after a bad header (its lines are skipped).
        case instance(Int?)
    }

    private struct Setting {
        let key: String
        let value: String
        let location: SourceLocation
        let fileIndex: Int
    }

    private struct InstanceBlock {
        let name: String
        let location: SourceLocation
        let fileIndex: Int
        var settings: [Setting] = []
    }

    private var commands: [CommandSpec] = []
    private var commandFileIndex: [Int] = []
    private var commandIndex: [String: Int] = [:]
    private var rules: [AccessRule] = []
    private var ruleFileIndex: [Int] = []
    private var limits = GlobalLimits()
    private var limitLocations: [String: SourceLocation] = [:]
    private var blocks: [InstanceBlock] = []
    private var errors: [(key: (Int, Int, Int), error: ConfigError)] = []
    private var warnings: [ConfigDiagnostic] = []

    static let sections = "[commands], [access], [limits] or [instance NAME]"
    static let limitKeys = "max_running, max_per_user, max_parameters, max_parameter_length"

    private mutating func report(_ message: String, at location: SourceLocation, fileIndex: Int) {
        errors.append(((fileIndex, location.line, errors.count), ConfigError(location: location, message: message)))
    }

    // MARK: - Pass one

    mutating func parseFile(_ source: ConfigSource, fileIndex: Int) {
        var section = Section.commands
        var lineNumber = 0
        // Split on scalars: as a Character, "\r\n" is one grapheme and not "\n".
        for rawLine in source.text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = ConfigText.string(rawLine).trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let location = SourceLocation(file: source.name, line: lineNumber)
            if line.hasPrefix("[") {
                section = header(line, at: location, fileIndex: fileIndex)
                continue
            }
            switch section {
            case .commands: commandLine(line, at: location, fileIndex: fileIndex)
            case .access: accessLine(line, at: location, fileIndex: fileIndex)
            case .limits: limitLine(line, at: location, fileIndex: fileIndex)
            case .instance(let block?):
                guard let (key, value) = ConfigText.splitKeyValue(line) else {
                    report("expected 'setting = value' (settings: \(InstanceOptions.knownKeys))",
                           at: location, fileIndex: fileIndex)
                    continue
                }
                blocks[block].settings.append(Setting(key: key, value: value, location: location, fileIndex: fileIndex))
            case .instance(nil):
                continue
            }
        }
    }

    private mutating func header(_ line: String, at location: SourceLocation, fileIndex: Int) -> Section {
        guard line.hasSuffix("]") else {
            report("a section header must be a whole line like [access]; expected \(Self.sections)",
                   at: location, fileIndex: fileIndex)
            return .instance(nil)
        }
        let inside = String(line.dropFirst().dropLast()).trimmingASCIIWhitespace()
        let (word, rest) = ConfigText.splitFirstWord(inside)
        switch (word, rest.trimmingASCIIWhitespace()) {
        case ("commands", ""): return .commands
        case ("access", ""): return .access
        case ("limits", ""): return .limits
        case ("instance", ""):
            report("[instance] needs the name of an instance: [instance NAME]", at: location, fileIndex: fileIndex)
            return .instance(nil)
        case ("instance", let name):
            guard ConfigText.isInstanceName(name) else {
                report("bad instance name '\(name)' in section header: use letters, digits, '_', '.', '-'",
                       at: location, fileIndex: fileIndex)
                return .instance(nil)
            }
            blocks.append(InstanceBlock(name: name, location: location, fileIndex: fileIndex))
            return .instance(blocks.count - 1)
        default:
            report("unknown section '\(line)': expected \(Self.sections)", at: location, fileIndex: fileIndex)
            return .instance(nil)
        }
    }

    private mutating func commandLine(_ line: String, at location: SourceLocation, fileIndex: Int) {
        let (name, afterName) = ConfigText.splitFirstWord(line)
        let (user, command) = ConfigText.splitFirstWord(afterName)
        let commandText = command.trimmingASCIIWhitespace()
        guard ConfigText.isInstanceName(name) else {
            return report("bad instance name '\(name)': use letters, digits, '_', '.', '-'",
                          at: location, fileIndex: fileIndex)
        }
        guard name != "all" else {
            return report("'all' cannot be an instance name: in [access] rules it means every instance",
                          at: location, fileIndex: fileIndex)
        }
        guard !user.isEmpty else {
            return report("missing user name: expected 'NAME USER COMMAND'", at: location, fileIndex: fileIndex)
        }
        guard !commandText.isEmpty else {
            return report("missing a command: expected 'NAME USER COMMAND'", at: location, fileIndex: fileIndex)
        }
        if let previous = commandIndex[name] {
            return report("duplicate instance name '\(name)': already defined at \(commands[previous].location)",
                          at: location, fileIndex: fileIndex)
        }
        let template: CommandTemplate
        do {
            template = try CommandTemplate.parse(commandText)
        } catch {
            return report("instance \(name): \(error.message)", at: location, fileIndex: fileIndex)
        }
        commandIndex[name] = commands.count
        commands.append(CommandSpec(
            name: name, user: user, commandLine: commandText, template: template, location: location))
        commandFileIndex.append(fileIndex)
    }

    private mutating func accessLine(_ line: String, at location: SourceLocation, fileIndex: Int) {
        var text = Substring(line)
        if text.hasSuffix(";") { text = text.dropLast() }
        let (verb, afterVerb) = ConfigText.splitFirstWord(String(text))
        let verdict: AccessRule.Verdict
        switch verb {
        case "allow": verdict = .allow
        case "disallow": verdict = .disallow
        default:
            return report("bad access directive '\(verb)': expected allow or disallow "
                          + "(as in 'allow user bob : bdev_trace;')", at: location, fileIndex: fileIndex)
        }
        let (kind, afterKind) = ConfigText.splitFirstWord(afterVerb)
        guard kind == "user" || kind == "group" else {
            return report("bad access entity '\(kind)': expected user or group", at: location, fileIndex: fileIndex)
        }
        let who: String
        let instances: String
        if let colon = afterKind.unicodeScalars.firstIndex(of: ":") {
            who = ConfigText.string(afterKind.unicodeScalars[..<colon]).trimmingASCIIWhitespace()
            instances = ConfigText.string(afterKind.unicodeScalars[afterKind.unicodeScalars.index(after: colon)...])
        } else {
            (who, instances) = ConfigText.splitFirstWord(afterKind)
        }
        guard !who.isEmpty else {
            return report("missing \(kind) name: expected '\(verb) \(kind) NAME : INSTANCE'",
                          at: location, fileIndex: fileIndex)
        }
        guard !who.unicodeScalars.contains(where: ConfigText.isBlank) else {
            return report("bad \(kind) name '\(who)': expected one name, a number or *, then ':' and the instances",
                          at: location, fileIndex: fileIndex)
        }
        let targets = ConfigText.splitList(instances)
        guard !targets.isEmpty else {
            return report("missing instance: expected '\(verb) \(kind) \(who) : INSTANCE[,INSTANCE...]' "
                          + "(an instance name, * or all)", at: location, fileIndex: fileIndex)
        }
        let subject: AccessRule.Subject = who == "*" ? .anyUser : kind == "user" ? .user(who) : .group(who)
        for target in targets {
            if target == "*" || target == "all" {
                rules.append(AccessRule(verdict: verdict, subject: subject, target: .all, location: location))
            } else if ConfigText.isInstanceName(target) {
                rules.append(AccessRule(verdict: verdict, subject: subject, target: .instance(target), location: location))
            } else {
                report("bad instance '\(target)': expected an instance name, * or all", at: location, fileIndex: fileIndex)
                continue
            }
            ruleFileIndex.append(fileIndex)
        }
    }

    private mutating func limitLine(_ line: String, at location: SourceLocation, fileIndex: Int) {
        guard let (key, value) = ConfigText.splitKeyValue(line) else {
            return report("expected 'limit = value' (limits: \(Self.limitKeys))", at: location, fileIndex: fileIndex)
        }
        let target: WritableKeyPath<GlobalLimits, Int>
        switch key {
        case "max_running": target = \.maxRunning
        case "max_per_user": target = \.maxPerUser
        case "max_parameters": target = \.maxParameters
        case "max_parameter_length": target = \.maxParameterLength
        default:
            return report("unknown limit '\(key)' (known: \(Self.limitKeys))", at: location, fileIndex: fileIndex)
        }
        guard let number = ConfigText.positiveInteger(value) else {
            return report("\(key) must be a whole number above zero, not '\(value)'", at: location, fileIndex: fileIndex)
        }
        if let previous = limitLocations[key] {
            return report("\(key) is already set at \(previous)", at: location, fileIndex: fileIndex)
        }
        limitLocations[key] = location
        limits[keyPath: target] = number
    }

    // MARK: - Pass two

    mutating func finish() throws(ConfigErrors) -> Configuration {
        var seen: [String: [String: SourceLocation]] = [:]
        var queueLocations: [String: (SourceLocation, Int)] = [:]
        for block in blocks {
            guard let index = commandIndex[block.name] else {
                report("[instance \(block.name)] names no instance: no commands line defines '\(block.name)'",
                       at: block.location, fileIndex: block.fileIndex)
                continue
            }
            for setting in block.settings {
                if let previous = seen[block.name, default: [:]][setting.key] {
                    report("'\(setting.key)' for instance \(block.name) is already set at \(previous)",
                           at: setting.location, fileIndex: setting.fileIndex)
                    continue
                }
                seen[block.name, default: [:]][setting.key] = setting.location
                do {
                    try commands[index].options.apply(
                        key: setting.key, value: setting.value, template: commands[index].template)
                    if setting.key == "queue" { queueLocations[block.name] = (setting.location, setting.fileIndex) }
                } catch {
                    report(error.message, at: setting.location, fileIndex: setting.fileIndex)
                }
            }
        }
        for (index, command) in commands.enumerated() {
            let options = command.options
            if let queue = options.queueCapacity, let (location, fileIndex) = queueLocations[command.name] {
                let needed = max(4096, 2 * options.maxLineLength)
                if queue.bytes < needed {
                    report("queue must be at least \(ByteCount(bytes: needed)) (4k, and twice max_line "
                           + "\(ByteCount(bytes: options.maxLineLength))), not \(queue)",
                           at: location, fileIndex: fileIndex)
                }
            }
            if command.template.highestParameter > limits.maxParameters {
                report("instance \(command.name) needs \(command.template.highestParameter) parameters "
                       + "but max_parameters is \(limits.maxParameters)",
                       at: command.location, fileIndex: commandFileIndex[index])
            }
        }
        guard errors.isEmpty else {
            let sorted = errors.sorted { $0.key < $1.key }
            throw ConfigErrors(errors: sorted.map(\.error))
        }
        collectWarnings()
        return Configuration(commands: commands, rules: rules, limits: limits, warnings: warnings)
    }

    private mutating func collectWarnings() {
        if commands.isEmpty {
            warnings.append(ConfigDiagnostic(
                location: nil, message: "no commands are configured: add lines of the form 'NAME USER COMMAND'"))
        }
        for rule in rules {
            if case .instance(let name) = rule.target, commandIndex[name] == nil {
                warnings.append(ConfigDiagnostic(
                    location: rule.location,
                    message: "access rule '\(rule.text)' names instance \(name), which no commands line defines"))
            }
        }
        let coversAll = rules.contains { $0.target == .all }
        for command in commands where !coversAll && !rules.contains(where: { $0.target == .instance(command.name) }) {
            warnings.append(ConfigDiagnostic(
                location: command.location,
                message: "instance \(command.name) is named by no access rule: only root may run it "
                    + "(PCP's pipe agent let every client run it); add 'allow user * : \(command.name)' "
                    + "to keep that behaviour"))
        }
    }
}
