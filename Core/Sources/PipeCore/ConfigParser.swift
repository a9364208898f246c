/// The sections a configuration file may have; every file starts in
/// `commands`.
enum ConfigSection: Equatable {
    case commands, access, limits
    /// Index into the parser's instance blocks, or nil after a bad header
    /// (its lines are skipped: the header's error says enough).
    case instance(Int?)

    static let list = "[commands], [access], [limits] or [instance NAME]"
}

/// The settings of the `[limits]` section: the one table of them.
public enum LimitDirective: String, CaseIterable, Sendable {
    case maxRunning = "max_running"
    case maxPerUser = "max_per_user"
    case maxParameters = "max_parameters"
    case maxParameterLength = "max_parameter_length"
    case idleTimeout = "idle_timeout"
    case reserved
    case reservedGroup = "reserved_group"
    case logSize = "log_size"

    /// The setting, or the message saying why it cannot be.
    func apply(_ value: String, to limits: inout GlobalLimits) -> String? {
        switch self {
        case .maxRunning, .maxPerUser, .maxParameters, .maxParameterLength:
            guard let number = ConfigText.positiveInteger(value) else {
                return "\(rawValue) must be a whole number above zero, not '\(value)'"
            }
            switch self {
            case .maxRunning: limits.maxRunning = number
            case .maxPerUser: limits.maxPerUser = number
            case .maxParameters: limits.maxParameters = number
            default: limits.maxParameterLength = number
            }
        case .idleTimeout:
            guard let duration = ConfigText.duration(value), duration >= .seconds(1) else {
                return "idle_timeout must be a duration of at least 1s, like 60s or 5m, not '\(value)'"
            }
            limits.idleTimeoutSeconds = Int(duration.components.seconds)
        case .reserved:
            guard value == "0" || ConfigText.positiveInteger(value) != nil else {
                return "reserved must be a whole number (0 or more), not '\(value)'"
            }
            limits.reserved = Int(value) ?? 0
        case .reservedGroup:
            guard !value.unicodeScalars.contains(where: ConfigText.isBlank) else {
                return "reserved_group must be one group name, not '\(value)'"
            }
            limits.reservedGroup = value
        case .logSize:
            guard let size = try? ByteCount.parse(value), size.bytes >= 64 << 10 else {
                return "log_size must be a size of at least 64k, like 32m, not '\(value)'"
            }
            limits.logSize = size.bytes
        }
        return nil
    }

    static let list = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Reads configuration files line by line into a `Configuration`.
///
/// Pass one reads every file: commands, access rules and limits directly,
/// `[instance NAME]` settings kept aside. Pass two (`finish`) applies those
/// settings, which may refer to commands in any file, and checks what spans
/// files: where each placeholder stands against its parameter's type, the
/// limits. Every error carries its location, so they sort into file and
/// line order whichever pass found them.
struct ConfigParser {
    private struct Setting {
        let key: String
        let value: String
        let location: SourceLocation
    }

    private struct InstanceBlock {
        let name: String
        let location: SourceLocation
        var settings: [Setting] = []
    }

    let engine: any PatternEngine
    private var commands: [CommandSpec] = []
    private var commandIndex: [String: Int] = [:]
    private var rules: [AccessRule] = []
    private var limits = GlobalLimits()
    private var limitLocations: [LimitDirective: SourceLocation] = [:]
    private var blocks: [InstanceBlock] = []
    private var diagnostics: [Diagnostic] = []

    init(engine: any PatternEngine) {
        self.engine = engine
    }

    private mutating func report(_ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(.error, at: location, message))
    }

    private mutating func warn(_ message: String, at location: SourceLocation?) {
        diagnostics.append(Diagnostic(.warning, at: location, message))
    }

    // MARK: - Pass one

    mutating func parseFile(_ source: ConfigSource, order: Int) {
        var section = ConfigSection.commands
        var lineNumber = 0
        // Split on scalars: as a Character, "\r\n" is one grapheme and not "\n".
        for rawLine in source.text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let location = SourceLocation(file: source.name, line: lineNumber, fileOrder: order)
            let text = ConfigText.string(rawLine)
            if let nul = text.unicodeScalars.first(where: { $0 == "\0" }) {
                _ = nul
                report("the line holds a NUL byte, which no command, name or setting may contain", at: location)
                continue
            }
            let trimmed = text.trimmingASCIIWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasPrefix("[") {
                section = header(ConfigText.strippingComment(trimmed), at: location)
                continue
            }
            switch section {
            case .commands: commandLine(ConfigText.strippingShellComment(trimmed), at: location)
            case .access: accessLine(ConfigText.strippingComment(trimmed), at: location)
            case .limits: limitLine(ConfigText.strippingComment(trimmed), at: location)
            case .instance(let block?):
                let line = ConfigText.strippingComment(trimmed)
                guard let (key, value) = ConfigText.splitKeyValue(line) else {
                    report("expected 'setting = value' (settings: \(InstanceDirective.list))", at: location)
                    continue
                }
                blocks[block].settings.append(Setting(key: key, value: value, location: location))
            case .instance(nil):
                continue
            }
        }
    }

    private mutating func header(_ line: String, at location: SourceLocation) -> ConfigSection {
        guard line.hasSuffix("]") else {
            report("a section header must be a whole line like [access]; expected \(ConfigSection.list)", at: location)
            return .instance(nil)
        }
        let inside = String(line.dropFirst().dropLast()).trimmingASCIIWhitespace()
        let (word, rest) = ConfigText.splitFirstWord(inside)
        switch (word, rest.trimmingASCIIWhitespace()) {
        case ("commands", ""): return .commands
        case ("access", ""): return .access
        case ("limits", ""): return .limits
        case ("instance", ""):
            report("[instance] needs the name of an instance: [instance NAME]", at: location)
            return .instance(nil)
        case ("instance", let name):
            guard ConfigText.isInstanceName(name) else {
                report("bad instance name '\(name)' in section header: \(ConfigText.instanceNameRule)", at: location)
                return .instance(nil)
            }
            blocks.append(InstanceBlock(name: name, location: location))
            return .instance(blocks.count - 1)
        default:
            report("unknown section '\(line)': expected \(ConfigSection.list)", at: location)
            return .instance(nil)
        }
    }

    private mutating func commandLine(_ line: String, at location: SourceLocation) {
        let (name, afterName) = ConfigText.splitFirstWord(line)
        let (user, command) = ConfigText.splitFirstWord(afterName)
        let commandText = command.trimmingASCIIWhitespace()
        guard ConfigText.isInstanceName(name) else {
            return report("bad instance name '\(name)': \(ConfigText.instanceNameRule)", at: location)
        }
        guard name != "all" && name != "*" else {
            return report(
                "'\(name)' cannot be an instance name: in [access] rules it means every instance", at: location)
        }
        guard !user.isEmpty else {
            return report("missing user name: expected 'NAME USER COMMAND'", at: location)
        }
        guard !commandText.isEmpty else {
            return report("missing a command: expected 'NAME USER COMMAND'", at: location)
        }
        if let previous = commandIndex[name] {
            return report(
                "duplicate instance name '\(name)': already defined at \(commands[previous].location)",
                at: location)
        }
        let template: CommandTemplate
        do {
            template = try CommandTemplate.parse(commandText)
        } catch {
            return report("instance \(name): \(error.message)", at: location)
        }
        commandIndex[name] = commands.count
        commands.append(
            CommandSpec(
                name: name, user: user, commandLine: commandText, template: template, location: location))
    }

    private mutating func accessLine(_ line: String, at location: SourceLocation) {
        var text = Substring(line)
        if text.hasSuffix(";") { text = text.dropLast() }
        let (verb, afterVerb) = ConfigText.splitFirstWord(String(text))
        let verdict: AccessRule.Verdict
        switch verb {
        case "allow": verdict = .allow
        case "disallow": verdict = .disallow
        case "read": verdict = .read
        default:
            return report(
                "bad access directive '\(verb)': expected allow, disallow or read "
                    + "(as in 'allow user bob : bdev_trace;')", at: location)
        }
        let (kind, afterKind) = ConfigText.splitFirstWord(afterVerb)
        guard kind == "user" || kind == "group" else {
            return report("bad access entity '\(kind)': expected user or group", at: location)
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
            return report("missing \(kind) name: expected '\(verb) \(kind) NAME : INSTANCE'", at: location)
        }
        guard !who.unicodeScalars.contains(where: ConfigText.isBlank) else {
            return report(
                "bad \(kind) name '\(who)': expected one name, a number or *, then ':' and the instances",
                at: location)
        }
        let targets = ConfigText.splitList(instances)
        guard !targets.isEmpty else {
            return report(
                "missing instance: expected '\(verb) \(kind) \(who) : INSTANCE[,INSTANCE...]' "
                    + "(an instance name, * or all)", at: location)
        }
        let subject: AccessRule.Subject = who == "*" ? .anyUser : kind == "user" ? .user(who) : .group(who)
        for target in targets {
            if target == "*" || target == "all" {
                rules.append(AccessRule(verdict: verdict, subject: subject, target: .all, location: location))
            } else if ConfigText.isInstanceName(target) {
                rules.append(
                    AccessRule(verdict: verdict, subject: subject, target: .instance(target), location: location))
            } else {
                report("bad instance '\(target)': expected an instance name, * or all", at: location)
            }
        }
    }

    private mutating func limitLine(_ line: String, at location: SourceLocation) {
        guard let (key, value) = ConfigText.splitKeyValue(line) else {
            return report("expected 'limit = value' (limits: \(LimitDirective.list))", at: location)
        }
        guard let directive = LimitDirective(rawValue: key) else {
            return report("unknown limit '\(key)' (known: \(LimitDirective.list))", at: location)
        }
        if let previous = limitLocations[directive] {
            return report("\(key) is already set at \(previous)", at: location)
        }
        if let problem = directive.apply(value, to: &limits) { return report(problem, at: location) }
        limitLocations[directive] = location
    }

    // MARK: - Pass two

    mutating func finish() throws(ConfigurationErrors) -> Configuration {
        applyInstanceSettings()
        if limits.reservedSetting != nil && limits.reserved >= limits.maxRunning {
            report(
                "reserved (\(limits.reserved)) must be less than max_running (\(limits.maxRunning)), or nobody but "
                    + "root could run anything",
                at: limitLocations[.reserved] ?? limitLocations[.maxRunning]
                    ?? SourceLocation(file: "[limits]", line: 0))
        }
        for command in commands {
            checkPlacements(command)
            checkQueue(command)
            checkSharing(command)
            if command.template.highestParameter > limits.maxParameters {
                report(
                    "instance \(command.name) needs \(command.template.highestParameter) parameters "
                        + "but max_parameters is \(limits.maxParameters)", at: command.location)
            }
        }
        let errors = diagnostics.filter { $0.severity == .error }
        guard errors.isEmpty else { throw ConfigurationErrors(errors: errors) }
        collectWarnings()
        return Configuration(
            commands: commands, rules: rules, limits: limits,
            warnings: diagnostics.filter { $0.severity == .warning }.sorted(), limitLocations: limitLocations)
    }

    private mutating func applyInstanceSettings() {
        var seen: [String: [String: SourceLocation]] = [:]
        for block in blocks {
            guard let index = commandIndex[block.name] else {
                report(
                    "[instance \(block.name)] names no instance: no commands line defines '\(block.name)'",
                    at: block.location)
                continue
            }
            for setting in block.settings {
                if let previous = seen[block.name, default: [:]][setting.key] {
                    report(
                        "'\(setting.key)' for instance \(block.name) is already set at \(previous)",
                        at: setting.location)
                    continue
                }
                seen[block.name, default: [:]][setting.key] = setting.location
                do {
                    try commands[index].options.apply(
                        key: setting.key, value: setting.value, template: commands[index].template, engine: engine)
                    if setting.key == InstanceDirective.queue.rawValue {
                        commands[index].queueLocation = setting.location
                    }
                } catch {
                    report(error.message, at: setting.location)
                }
            }
        }
    }

    /// A wider-than-plain-word parameter may only be a whole argument of a
    /// program run without a shell (see `Placement`).
    private mutating func checkPlacements(_ command: CommandSpec) {
        let template = command.template
        for use in template.uses {
            let numbers =
                use.number == 0
                ? command.options.parameterTypes.keys.sorted() : [use.number]
            for number in numbers {
                let type = command.options.parameterType(number)
                guard !type.isAllowed(at: use.placement) else { continue }
                report(
                    "instance \(command.name): \(use.name) stands \(use.placement.description), where only a "
                        + "plain word may go (letters and digits, the default; integer; oneof; pid; blockdev"
                        + (use.placement == .wholeShellWord ? "; or path under DIR" : "")
                        + "), but param \(number) is '\(type.text)': "
                        + Self.placementFix(template: template, number: number, type: type),
                    at: command.location)
            }
        }
        for warning in InterpreterCheck.warnings(for: command) {
            warn(warning, at: command.location)
        }
    }

    private static func placementFix(template: CommandTemplate, number: Int, type: ParameterType) -> String {
        if case .path(let directory) = type {
            return "make $\(number) a whole argument of a command line without shell syntax "
                + "(like 'cat $\(number)' with 'param \(number) = path under \(directory)'); the command then gets "
                + "the resolved path"
        }
        if template.isDirect {
            return "make $\(number) a whole argument (a word that is exactly $\(number)), or give it a plain-word type"
        }
        return "a shell command line can only take plain words: write the command as plain words with $\(number) "
            + "as a whole argument, or give it a plain-word type"
    }

    /// A queue must hold at least two of the longest pieces a line is cut
    /// into, so that a blocked command can always make progress.
    private mutating func checkQueue(_ command: CommandSpec) {
        let options = command.options
        guard let queue = options.queueCapacity, let location = command.queueLocation else { return }
        let needed = max(4096, 2 * options.maxLineLength)
        if queue.bytes < needed {
            report(
                "queue must be at least \(ByteCount(bytes: needed)) (4k, and twice max_line "
                    + "\(ByteCount(bytes: options.maxLineLength))), not \(queue)", at: location)
        }
    }

    /// Settings of shared runs that only make sense together.
    private mutating func checkSharing(_ command: CommandSpec) {
        let options = command.options
        let sharingOnly: [InstanceDirective] = [.autostart, .params, .restart, .retain, .idleExpiry, .buffer, .tail]
        for block in blocks where block.name == command.name {
            for setting in block.settings {
                guard let (directive, _) = InstanceDirective.lookup(setting.key) else { continue }
                if sharingOnly.contains(directive) && !options.shared {
                    report(
                        "\(setting.key) applies to shared runs: add 'shared = yes' to [instance \(command.name)]",
                        at: setting.location)
                }
                if (directive == .params || directive == .restart) && options.shared && !options.autostart {
                    report(
                        "\(setting.key) applies to runs the agent starts itself: add 'autostart = yes'",
                        at: setting.location)
                }
            }
        }
    }

    private mutating func collectWarnings() {
        if commands.isEmpty {
            warn("no commands are configured: add lines of the form 'NAME USER COMMAND'", at: nil)
        }
        for rule in rules {
            if case .instance(let name) = rule.target, commandIndex[name] == nil {
                warn(
                    "access rule '\(rule.text)' names instance \(name), which no commands line defines",
                    at: rule.location)
            }
        }
        for command in commands {
            // Admission checks the agent's limits first: an instance limit
            // above them never applies, which its writer would not expect.
            if let own = command.options.maxRunning, own > limits.maxRunning {
                warn(
                    "instance \(command.name): max_running \(own) is more than [limits] max_running "
                        + "\(limits.maxRunning), which is what applies", at: command.location)
            }
            if let own = command.options.maxPerUser, own > limits.maxPerUser {
                warn(
                    "instance \(command.name): max_per_user \(own) is more than [limits] max_per_user "
                        + "\(limits.maxPerUser), which is what applies", at: command.location)
            }
        }
        let runRules = rules.filter { $0.verdict != .read }
        let coversAll = runRules.contains { $0.target == .all }
        for command in commands where !coversAll && !runRules.contains(where: { $0.target == .instance(command.name) })
        {
            warn(
                "instance \(command.name) is named by no access rule: only root may run it "
                    + "(PCP's pipe agent let every client run it); add 'allow user * : \(command.name)' "
                    + "to keep that behaviour", at: command.location)
        }
    }
}
