// One request, one path: a client stored parameter bytes into an instance;
// everything the agent decides about it (who the client is allowed to be,
// whether the rules let it run the command, what each parameter may hold,
// whether a limit is reached, what exactly would run, as whom) happens here,
// in order, without a system call. The agent gathers the facts the
// decisions need through `LaunchFacts` and carries out the plan.

/// The account a command runs as, as the agent resolved it.
public struct RunAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups, the primary one first.
    public var groups: [UInt32]
    public var home: String

    public init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32], home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }
}

/// Everything the planner asks of the machine. The agent answers from
/// caches filled when the configuration is loaded (accounts, programs) and
/// from a few bounded system calls (paths, processes, devices); tests
/// answer from tables.
public protocol LaunchFacts: ParameterFacts {
    /// The account `name` (a user name or a decimal uid), or nil if there
    /// is none.
    func account(named name: String) -> RunAccount?
    /// The absolute path of `program` (a bare name is looked up in
    /// `LaunchPlanner.fixedPath`), or why it cannot run.
    func resolveProgram(_ program: String) -> Result<String, FactRefusal>
}

/// What the planner needs to know about the agent's state.
public struct LaunchContext: Sendable {
    /// Runs in progress, for the limits.
    public var admission: Admission
    /// Instances this client context has a run of already.
    public var activeInstances: Set<String>
    /// Uids of PCP's own daemons (pmlogger, pmproxy run as `pcp`): such a
    /// context starts nothing unless pmcd authenticated it with SASL, since
    /// anyone who can reach pmproxy would otherwise act as that account.
    public var daemonUIDs: Set<UInt32>
    public var shuttingDown: Bool

    public init(
        admission: Admission = Admission(), activeInstances: Set<String> = [],
        daemonUIDs: Set<UInt32> = [], shuttingDown: Bool = false
    ) {
        self.admission = admission
        self.activeInstances = activeInstances
        self.daemonUIDs = daemonUIDs
        self.shuttingDown = shuttingDown
    }
}

/// Why a request was refused. `message` is the sentence the client reads in
/// `pipe.lasterror` and the audit log records; the agent turns the case into
/// a PCP error code once, at the store boundary.
public enum LaunchRefusal: Error, Sendable, Equatable {
    case unknownInstance(String)
    case noCredentials
    case daemonWithoutSASL(uid: UInt32)
    case accessDenied(AccessDecision)
    case badParameters(ParameterError)
    case alreadyRunning(String)
    case limitReached(AdmissionRefusal)
    case cannotRun(String)
    /// The spawn itself failed (fork, exec, a credential change): errno as
    /// the C library reported it.
    case startFailed(reason: String, errno: Int32)
    /// Not now, but soon (a big pinned program is still being checked).
    case tryAgain(String)
    case shuttingDown

    public var message: String {
        switch self {
        case .unknownInstance(let name): return "no command is configured as \(name)"
        case .noCredentials:
            return "permission denied: the client has no credentials (a TCP connection without SASL "
                + "authentication): connect through pmcd's unix socket, or authenticate with SASL"
        case .daemonWithoutSASL(let uid):
            return "permission denied: uid \(uid) is a PCP daemon's account (pmproxy, pmlogger), whose connections "
                + "start nothing unless they authenticated with SASL"
        case .accessDenied(let decision): return "permission denied: \(decision.reason)"
        case .badParameters(let error): return "bad parameters: \(error)"
        case .alreadyRunning(let name): return "\(name) is already running for this client"
        case .limitReached(let refusal): return "limit reached: \(refusal)"
        case .cannotRun(let reason): return "cannot run the command: \(reason)"
        case .startFailed(let reason, _): return reason
        case .tryAgain(let reason): return "not yet: \(reason)"
        case .shuttingDown: return "the agent is shutting down"
        }
    }
}

/// A decided run: what to execute, as whom, under which limits.
public struct LaunchPlan: Sendable {
    public var spec: CommandSpec
    /// `program` is the absolute path to execute.
    public var invocation: Invocation
    /// The parameters as the command receives them (integers in plain
    /// decimal, paths resolved), for the audit log.
    public var parameters: [String]
    public var account: RunAccount
    /// The whole environment, `K=V`.
    public var environment: [String]
    public var decision: AccessDecision
}

/// The check of one parameter, for `pmpipe --explain`.
public struct ParameterCheck: Sendable, Equatable {
    public var number: Int
    public var value: String
    public var type: ParameterType
    /// `.accepted(converted)` or `.refused(reason)`.
    public var verdict: ParameterVerdict
    /// false for a parameter beyond the highest `$N` of a command without
    /// `$0`: checked, then not passed (as PCP's agent ignored it).
    public var used: Bool
}

/// Every step of deciding one request, as far as it got.
public struct LaunchAssessment: Sendable {
    public var instance: String
    public var spec: CommandSpec?
    public var decision: AccessDecision?
    public var parameters: [ParameterCheck] = []
    public var account: RunAccount?
    public var invocation: Invocation?
    public var result: Result<LaunchPlan, LaunchRefusal>

    init(instance: String, refusal: LaunchRefusal) {
        self.instance = instance
        result = .failure(refusal)
    }
}

/// Decides requests against one configuration.
public struct LaunchPlanner: Sendable {
    public let configuration: Configuration
    public let policy: AccessPolicy

    /// The search path for bare program names, and the commands' PATH.
    public static let fixedPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.policy = AccessPolicy(rules: configuration.rules)
    }

    /// The plan for `parameterBytes` stored into `instance` by `client`, or
    /// why not.
    public func plan(
        instance: String, parameterBytes: [UInt8], client: ClientIdentity,
        context: LaunchContext, facts: any LaunchFacts
    ) -> Result<LaunchPlan, LaunchRefusal> {
        assess(instance: instance, parameterBytes: parameterBytes, client: client, context: context, facts: facts)
            .result
    }

    /// Decides the request step by step, in this order: the agent's state,
    /// the instance, the client's credentials, the access rules, the
    /// parameters (count, characters, length, each one's type, a leading
    /// `-`), the limits, the run-as account, the program.
    public func assess(
        instance: String, parameterBytes: [UInt8], client: ClientIdentity,
        context: LaunchContext, facts: any LaunchFacts
    ) -> LaunchAssessment {
        guard !context.shuttingDown else { return LaunchAssessment(instance: instance, refusal: .shuttingDown) }
        guard let spec = configuration.command(named: instance) else {
            return LaunchAssessment(instance: instance, refusal: .unknownInstance(instance))
        }
        var assessment = LaunchAssessment(instance: instance, refusal: .unknownInstance(instance))
        assessment.spec = spec
        func refuse(_ refusal: LaunchRefusal) -> LaunchAssessment {
            assessment.result = .failure(refusal)
            return assessment
        }
        guard let uid = client.uid else { return refuse(.noCredentials) }
        if context.daemonUIDs.contains(uid) && !client.authentication.isSASL {
            return refuse(.daemonWithoutSASL(uid: uid))
        }
        let decision = policy.decide(client: client, instance: instance)
        assessment.decision = decision
        guard decision.allowed else { return refuse(.accessDenied(decision)) }
        if context.activeInstances.contains(instance) { return refuse(.alreadyRunning(instance)) }

        let values: [String]
        do {
            let text = try ParameterParser.decode(parameterBytes)
            let split = try ParameterParser.split(text, limits: configuration.limits)
            values = try checkParameters(split, spec: spec, client: client, facts: facts, into: &assessment.parameters)
        } catch {
            return refuse(.badParameters(error))
        }

        let limits = AdmissionLimits(
            maxRunning: configuration.limits.maxRunning, maxPerUser: configuration.limits.maxPerUser,
            instanceMaxRunning: spec.options.maxRunning, instanceMaxPerUser: spec.options.maxPerUser,
            reserved: configuration.limits.reserved)
        let privileged = uid == 0 || configuration.limits.reservedGroup.map { client.groupNames.contains($0) } == true
        if let refusal = context.admission.check(instance: instance, uid: uid, limits: limits, privileged: privileged) {
            return refuse(.limitReached(refusal))
        }
        guard let account = facts.account(named: spec.user) else {
            return refuse(.cannotRun("its user '\(spec.user)' does not exist"))
        }
        assessment.account = account
        var invocation = spec.template.render(instance: instance, parameters: values)
        if !invocation.usesShell {
            switch facts.resolveProgram(invocation.program) {
            case .success(let path): invocation.program = path
            case .failure(let refusal): return refuse(.cannotRun("program '\(invocation.program)' \(refusal.reason)"))
            }
        }
        assessment.invocation = invocation
        assessment.result = .success(
            LaunchPlan(
                spec: spec, invocation: invocation, parameters: values, account: account,
                environment: Self.environment(for: account), decision: decision))
        return assessment
    }

    /// Checks every parameter; returns the values the command receives (up
    /// to the highest `$N`, or all of them for a command with `$0`).
    func checkParameters(
        _ values: [String], spec: CommandSpec, client: ClientIdentity, facts: any LaunchFacts,
        into checks: inout [ParameterCheck]
    ) throws(ParameterError) -> [String] {
        let template = spec.template
        let limits = configuration.limits
        if values.count > limits.maxParameters { throw .tooMany(max: limits.maxParameters, got: values.count) }
        if values.count < template.highestParameter {
            throw .tooFew(needed: template.highestParameter, got: values.count)
        }
        for (offset, value) in values.enumerated() {
            if let control = value.unicodeScalars.first(where: ParameterParser.isControl) {
                throw .controlCharacter(parameter: offset + 1, scalar: control.value)
            }
            if value.utf8.count > limits.maxParameterLength {
                throw .tooLong(parameter: offset + 1, max: limits.maxParameterLength)
            }
        }
        var converted: [String] = []
        for (offset, value) in values.enumerated() {
            let number = offset + 1
            let type = spec.options.parameterType(number)
            let verdict = type.check(value, client: client, facts: facts)
            let used = template.usesAllParameters || number <= template.highestParameter
            checks.append(ParameterCheck(number: number, value: value, type: type, verdict: verdict, used: used))
            switch verdict {
            case .refused(let reason):
                throw .rejected(
                    parameter: number, value: value, reason: reason,
                    suggestion: Self.suggestion(for: value, number: number, type: type, spec: spec))
            case .accepted(let result):
                if case .path = type, standsInShellWord(number, template),
                    !result.unicodeScalars.allSatisfy(Self.isShellSafe)
                {
                    let reason =
                        "resolves to \(result), whose characters a shell command line cannot take safely "
                        + "(only letters, digits and _ . / + : @ % = , -)"
                    checks[checks.count - 1].verdict = .refused(reason)
                    throw .rejected(parameter: number, value: value, reason: reason)
                }
                let explicit = type.acceptsLeadingDashExplicitly
                if result.unicodeScalars.first == "-" && !spec.options.allowLeadingDash && !explicit {
                    throw .leadingDash(parameter: number)
                }
                if used { converted.append(result) }
            }
        }
        return converted
    }

    private func standsInShellWord(_ number: Int, _ template: CommandTemplate) -> Bool {
        template.uses.contains { ($0.number == number || $0.number == 0) && $0.placement == .wholeShellWord }
    }

    /// Characters a resolved path may have to stand as a whole word of a
    /// shell command line, where a later command may split or glob it.
    static func isShellSafe(_ scalar: Unicode.Scalar) -> Bool {
        ASCII.isLetterOrDigit(scalar) || "_./+:@%=,-".unicodeScalars.contains(scalar)
    }

    /// For a value refused by the default type: which setting would allow
    /// it, so the client can ask the sysadmin for the right thing.
    static func suggestion(for value: String, number: Int, type: ParameterType, spec: CommandSpec) -> String? {
        guard case .alnum = type, !value.isEmpty else { return nil }
        let wider =
            value.contains("/") ? "'param \(number) = path under DIR'" : "'param \(number) = word' or 'pattern REGEX'"
        return "the sysadmin can allow more with \(wider) in [instance \(spec.name)]"
    }

    /// The whole environment a command gets: nothing of the agent's (pmcd's).
    public static func environment(for account: RunAccount) -> [String] {
        [
            "PATH=\(fixedPath)",
            "HOME=\(account.home)",
            "USER=\(account.name)",
            "LOGNAME=\(account.name)",
            "LANG=C.UTF-8",
            "SHELL=/bin/sh",
        ]
    }
}
