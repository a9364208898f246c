/// Per-instance settings from an `[instance NAME]` section. Every field
/// has a default, so an instance without a section behaves like PCP's pipe
/// agent, within the agent-wide limits.
public struct InstanceOptions: Sendable, Equatable {
    /// Queued bytes per client; nil: the agent's `-m` default.
    public var queueCapacity: ByteCount? = nil
    public var overflow: OverflowPolicy = .block
    /// Longer lines arrive in pieces of this many bytes, each marked
    /// `continued` except the last.
    public var maxLineLength: Int = 65536
    /// nil: unlimited.
    public var timeLimit: Duration? = nil
    /// Total output bytes before the command is stopped; nil: unlimited.
    public var outputLimit: ByteCount? = nil
    /// Concurrent runs of this instance, all users.
    public var maxRunning: Int? = nil
    /// Concurrent runs of this instance per client user.
    public var maxPerUser: Int? = nil
    /// Time between SIGTERM and SIGKILL.
    public var killGrace: Duration = .seconds(3)
    /// Key: 1-based parameter number; a parameter without an entry is
    /// `ParameterType.default` (letters and digits).
    public var parameterTypes: [Int: ParameterType] = [:]
    /// Whether parameters may start with `-` without a type that accepts
    /// that explicitly.
    public var allowLeadingDash = false
    /// 32 bytes the executable must hash to; only for direct (non-shell) commands.
    public var sha256: [UInt8]? = nil
    /// Run with only these Linux capabilities; nil: the run-as user's usual ones.
    public var capabilities: [Capability]? = nil
    public var noNewPrivileges = false
    public var stderr: StderrHandling = .records
    /// Stop a run whose client has not fetched for this long while the
    /// command waits on a full queue; nil: `[limits] idle_timeout`.
    public var idleTimeout: Duration? = nil
    /// cgroup limits of each run: bytes of memory, processes, percent of one CPU.
    public var memoryLimit: ByteCount? = nil
    public var taskLimit: Int? = nil
    public var cpuPercent: Int? = nil

    // Shared runs (pipe.control.start, pipe.run.*).
    /// Runs of this command are shared: they outlive the context that
    /// started them, and every permitted reader has its own read position.
    public var shared = false
    /// Started by the agent itself (at start-up and after reloads) with
    /// `autostartParameters`, and restarted when it exits unless `restart`
    /// is off.
    public var autostart = false
    public var autostartParameters = ""
    public var restart = true
    /// How long a finished shared run stays readable.
    public var retain: Duration = .seconds(600)
    /// A shared run nobody has read for this long is stopped; nil: never
    /// (the default for autostart runs).
    public var idleExpiry: Duration? = nil
    /// The shared buffer (bytes of lines kept for readers); nil: 4m.
    public var buffer: ByteCount? = nil
    /// Lines of pipe.run.tail.
    public var tailLines = 20

    public init() {}

    /// The type of parameter `number` (1-based).
    public func parameterType(_ number: Int) -> ParameterType {
        parameterTypes[number] ?? .default
    }
}

/// The settings an `[instance NAME]` section may hold: the one table of
/// them (names, syntax for messages); `InstanceOptions.apply` reads each.
public enum InstanceDirective: String, CaseIterable, Sendable {
    case param
    case queue, overflow
    case maxLine = "max_line"
    case timeout
    case maxOutput = "max_output"
    case maxRunning = "max_running"
    case maxPerUser = "max_per_user"
    case grace
    case allowDash = "allow_dash"
    case sha256, capabilities
    case noNewPrivs = "no_new_privs"
    case stderr
    case idleTimeout = "idle_timeout"
    case memory, tasks, cpu
    case shared, autostart, params, restart, retain
    case idleExpiry = "idle_expiry"
    case buffer, tail

    /// How the setting is written: `param N = TYPE`.
    public var syntax: String {
        switch self {
        case .param: return "param N = TYPE"
        default: return "\(rawValue) = VALUE"
        }
    }

    /// The directive a `key` (as `ConfigText.splitKeyValue` gives it) names,
    /// and the key's argument (`param 2` gives `.param` and "2").
    static func lookup(_ key: String) -> (directive: InstanceDirective, argument: String)? {
        let (name, argument) = ConfigText.splitFirstWord(key)
        guard let directive = InstanceDirective(rawValue: name) else { return nil }
        guard argument.isEmpty || directive == .param else { return nil }
        return (directive, argument)
    }

    /// "param N, queue, overflow, ..." for messages.
    static let list = allCases.map { $0 == .param ? "param N" : $0.rawValue }.joined(separator: ", ")
}

/// What happens to a command's standard error.
public enum StderrHandling: String, Sendable, Hashable, CaseIterable {
    /// Sent to the client as records marked as stderr.
    case records
    /// Written to the agent's log.
    case log
    /// Thrown away.
    case discard
}

// MARK: - Reading settings

/// A problem with one setting; the parser adds the location.
struct SettingError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension InstanceOptions {
    /// Applies `key = value` for an instance whose command is `template`;
    /// patterns are compiled by `engine`.
    mutating func apply(
        key: String, value: String, template: CommandTemplate,
        engine: any PatternEngine
    ) throws(SettingError) {
        guard let (directive, argument) = InstanceDirective.lookup(key) else {
            throw SettingError("unknown instance setting '\(key)' (known: \(InstanceDirective.list))")
        }
        guard !value.isEmpty else { throw SettingError("'\(key)' needs a value") }
        switch directive {
        case .queue:
            queueCapacity = try Self.size(key, value)
        case .overflow:
            guard let policy = OverflowPolicy(rawValue: value.lowercased()) else {
                throw SettingError("overflow must be block or drop, not '\(value)'")
            }
            overflow = policy
        case .maxLine:
            let size = try Self.size(key, value)
            // A piece travels as one event record, and an event array's
            // length field has 24 bits (16 MiB): 8m leaves room for the rest
            // of the batch.
            guard size.bytes >= 256 && size.bytes <= 8 << 20 else {
                throw SettingError("max_line must be between 256 and 8m, not \(value)")
            }
            maxLineLength = size.bytes
        case .timeout:
            timeLimit = try Self.duration(key, value, positive: true, examples: "30s, 5m, 1h or 1.5s")
        case .maxOutput:
            let size = try Self.size(key, value)
            guard size.bytes > 0 else { throw SettingError("max_output must be above zero") }
            outputLimit = size
        case .maxRunning:
            maxRunning = try Self.positive(key, value)
        case .maxPerUser:
            maxPerUser = try Self.positive(key, value)
        case .grace:
            killGrace = try Self.duration(key, value, positive: false, examples: "500ms, 3s or 1m")
        case .allowDash:
            allowLeadingDash = try Self.yesNo(key, value)
        case .noNewPrivs:
            noNewPrivileges = try Self.yesNo(key, value)
        case .sha256:
            guard template.isDirect else {
                throw SettingError(
                    "sha256 cannot pin a shell command (this command line uses shell syntax, so it runs /bin/sh): "
                        + "write it as plain words to run the program directly")
            }
            guard let digest = Self.hexBytes(value), digest.count == 32 else {
                throw SettingError("sha256 must be 64 hexadecimal digits (as sha256sum prints), not '\(value)'")
            }
            sha256 = digest
        case .capabilities:
            capabilities = try Self.capabilityList(value)
        case .stderr:
            guard let handling = StderrHandling(rawValue: value.lowercased()) else {
                throw SettingError("stderr must be records, log or discard, not '\(value)'")
            }
            stderr = handling
        case .idleTimeout:
            idleTimeout = try Self.duration(key, value, positive: true, examples: "60s or 5m")
        case .memory:
            let size = try Self.size(key, value)
            guard size.bytes >= 1 << 20 else { throw SettingError("memory must be at least 1m, not \(value)") }
            memoryLimit = size
        case .tasks:
            taskLimit = try Self.positive(key, value)
        case .cpu:
            let text = value.hasSuffix("%") ? String(value.dropLast()) : value
            guard let percent = ConfigText.positiveInteger(text), percent <= 100_000 else {
                throw SettingError("cpu must be a percentage of one CPU like 50% or 200%, not '\(value)'")
            }
            cpuPercent = percent
        case .shared:
            shared = try Self.yesNo(key, value)
        case .autostart:
            autostart = try Self.yesNo(key, value)
        case .params:
            autostartParameters = value
        case .restart:
            restart = try Self.yesNo(key, value)
        case .retain:
            retain = try Self.duration(key, value, positive: false, examples: "10m or 1h")
        case .idleExpiry:
            idleExpiry = try Self.duration(key, value, positive: true, examples: "5m")
        case .buffer:
            let size = try Self.size(key, value)
            guard size.bytes >= 64 << 10 && size.bytes <= 1 << 30 else {
                throw SettingError("buffer must be between 64k and 1g, not \(value)")
            }
            buffer = size
        case .tail:
            guard value == "0" || ConfigText.positiveInteger(value) != nil, let lines = Int(value), lines <= 10_000
            else {
                throw SettingError("tail must be a number of lines from 0 to 10000, not '\(value)'")
            }
            tailLines = lines
        case .param:
            let number = ConfigText.positiveInteger(argument)
            guard let number, number <= CommandTemplate.maximumPlaceholder else {
                throw SettingError("expected 'param N = TYPE' with N a parameter number from 1, not '\(key)'")
            }
            if number > template.highestParameter && !template.usesAllParameters {
                throw SettingError("parameter \(number) is never used by the command")
            }
            do {
                parameterTypes[number] = try ParameterType.parse(value, engine: engine)
            } catch {
                throw SettingError(error.message)
            }
        }
    }

    private static func size(_ key: String, _ value: String) throws(SettingError) -> ByteCount {
        do {
            return try ByteCount.parse(value)
        } catch {
            throw SettingError("\(key): \(error)")
        }
    }

    /// A duration (`ConfigText.duration`: 500ms, 3s, 1.5m, 2h), above zero when `positive`.
    private static func duration(_ key: String, _ value: String, positive: Bool, examples: String)
        throws(SettingError) -> Duration
    {
        guard let duration = ConfigText.duration(value), !positive || duration > .zero else {
            throw SettingError(
                "\(key) must be a \(positive ? "positive " : "")duration like \(examples), not '\(value)'")
        }
        return duration
    }

    private static func positive(_ key: String, _ value: String) throws(SettingError) -> Int {
        guard let number = ConfigText.positiveInteger(value) else {
            throw SettingError("\(key) must be a whole number above zero, not '\(value)'")
        }
        return number
    }

    private static func yesNo(_ key: String, _ value: String) throws(SettingError) -> Bool {
        guard let flag = ConfigText.yesNo(value) else { throw SettingError("\(key) must be yes or no, not '\(value)'") }
        return flag
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.lowercased().unicodeScalars)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for pair in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(ConfigText.string(digits[pair...pair + 1]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func capabilityList(_ value: String) throws(SettingError) -> [Capability] {
        let names = ConfigText.splitList(value)
        if names.count == 1 && names[0].lowercased() == "none" { return [] }
        var found: [Capability] = []
        var unknown: [String] = []
        for name in names {
            if let capability = Capability.lookup(named: name) {
                if !found.contains(capability) { found.append(capability) }
            } else {
                unknown.append("'\(name)'")
            }
        }
        guard unknown.isEmpty else {
            throw SettingError(
                "unknown capabilit\(unknown.count == 1 ? "y" : "ies") \(unknown.joined(separator: ", ")) "
                    + "(expected names from capabilities(7) like cap_perfmon, perfmon or CAP_SYS_ADMIN, or none)")
        }
        return found
    }
}
