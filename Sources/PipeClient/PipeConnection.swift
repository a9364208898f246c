import CPCP
import PipeCore
import PipeSystem

/// The metric names of a pipe agent under `prefix` (`pipe`, or `cpipe` for
/// PCP's C agent installed as a second copy).
public struct PipeMetricNames: Sendable, Equatable {
    public var prefix: String
    public init(prefix: String = "pipe") { self.prefix = prefix }

    public var firehose: String { "\(prefix).firehose" }
    public var commands: String { "\(prefix).commands" }
    public var lastError: String { "\(prefix).lasterror" }
    public var line: String { "\(prefix).line" }
    public var errLine: String { "\(prefix).errline" }
    public var rawLine: String { "\(prefix).rawline" }
    public var rawErrLine: String { "\(prefix).rawerrline" }
    public var continued: String { "\(prefix).continued" }
    public var noeol: String { "\(prefix).noeol" }
    public var exitStatus: String { "\(prefix).exitstatus" }
    public var endReason: String { "\(prefix).endreason" }
    public var parameterTypes: String { "\(prefix).paramtypes" }
    public var controlStart: String { "\(prefix).control.start" }
    public var controlStop: String { "\(prefix).control.stop" }
    public var controlExplain: String { "\(prefix).control.explain" }
    public var runRecords: String { "\(prefix).run.records" }
    public var runStatus: String { "\(prefix).run.status" }
    public var runExitStatus: String { "\(prefix).run.exitstatus" }
    public var runOwner: String { "\(prefix).run.owner" }
    public var runCommand: String { "\(prefix).run.command" }
    public var runParams: String { "\(prefix).run.params" }
    public var runLines: String { "\(prefix).run.lines" }
}

/// A connection to pmcd and its pipe agent: what `pmpipe` does, without the
/// printing. Every libpcp call of the client goes through here.
public final class PipeConnection {
    /// PM_ID_NULL: matches no parameter. The ID of a parameter the agent
    /// does not have: PCP's C agent (`--prefix cpipe`) has no `noeol`,
    /// `continued`, raw lines or end records, and always means a newline.
    public static let absent: UInt32 = 0xFFFF_FFFF

    public let names: PipeMetricNames
    public let parameterIDs: EventParameterIDs
    /// How this build's compiler lays out the type/length bitfields.
    public let layout: TypeLengthLayout

    /// What `-h` said, for advice about credentials.
    public let hostSpec: HostSpec

    let context: PCPContext
    private let firehose: pmID
    let firehoseDesc: pmDesc
    private let lastError: pmID?
    private let commands: pmID?

    /// Connects to pmcd on `host` and checks that the agent is there.
    public init(host: String, prefix: String = "pipe") throws(PipeClientError) {
        names = PipeMetricNames(prefix: prefix)
        hostSpec = HostSpec(host)
        context = try PCPContext(host: host)
        guard let firehose = try context.lookup(names.firehose) else {
            throw .agentNotInstalled(metric: names.firehose, host: host)
        }
        self.firehose = firehose
        firehoseDesc = try context.descriptor(firehose, name: names.firehose)
        guard firehoseDesc.type == PM_TYPE_EVENT else { throw .notAnEventMetric(metric: names.firehose) }
        lastError = try context.lookup(names.lastError)
        commands = try context.lookup(names.commands)
        let ctx = context
        func id(_ name: String) throws(PipeClientError) -> UInt32 { try ctx.lookup(name) ?? Self.absent }
        parameterIDs = EventParameterIDs(
            line: try id(names.line), errline: try id(names.errLine),
            rawline: try id(names.rawLine), rawerrline: try id(names.rawErrLine),
            continued: try id(names.continued), noeol: try id(names.noeol), exitstatus: try id(names.exitStatus),
            endreason: try id(names.endReason))
        layout = TypeLengthLayout { cpcp_param_word($0, $1) }
    }

    /// Disconnects (pmDestroyContext): the agent stops this client's
    /// commands. Idempotent.
    public func disconnect() { context.close() }

    // MARK: - Listing

    /// The commands the caller may run, in the agent's order, with their
    /// command lines and parameter types. The agent gives `pipe.commands`
    /// values only for those (root: all); an agent without that metric
    /// gets every instance listed, without command lines.
    public func commandList() throws(PipeClientError) -> [CommandEntry] {
        try context.widenProfile(firehoseDesc.indom)
        let instances = try context.instances(of: firehoseDesc.indom)
        guard let commands else { return instances.map { CommandEntry(name: $0.name, commandLine: "") } }
        let lines = try strings(of: commands, name: names.commands)
        var types: [Int32: String] = [:]
        if let parameterTypes = try context.lookup(names.parameterTypes) {
            types = try strings(of: parameterTypes, name: names.parameterTypes)
        }
        return instances.compactMap { instance in
            guard let line = lines[instance.id] else { return nil }
            return CommandEntry(
                name: instance.name, commandLine: line,
                parameterTypes: CommandListing.parameterTypes(from: types[instance.id]))
        }
    }

    /// A string metric's values, by instance.
    func strings(of pmid: pmID, name: String) throws(PipeClientError) -> [Int32: String] {
        do { return try context.fetchStrings(pmid) } catch let error as PipeClientError {
            throw error
        } catch { throw .pcp(operation: "fetching \(name)", reason: "\(error)") }
    }

    /// A metric this mode needs, or the error that says the agent lacks it.
    func require(_ name: String, for feature: String) throws(PipeClientError) -> pmID {
        guard let pmid = try context.lookup(name) else {
            throw .featureMissing(feature: feature, metric: name, host: context.host)
        }
        return pmid
    }

    // MARK: - Explaining

    /// What the agent would do with `request` for `instance`, without
    /// running anything: its multi-line explanation, ending with
    /// `verdict: ...` (`pipe.control.explain`).
    public func explain(instance name: String, request: StoreRequest) throws(PipeClientError) -> String {
        let explain = try require(names.controlExplain, for: "--explain")
        let instance = try commandInstance(named: name)
        let sts = context.storeString(explain, instance: instance, request.parameters)
        if sts == cpcp_ERR_INST { throw .noSuchInstance(name, offered: offeredNames()) }
        guard sts >= 0 else { throw .pcp(operation: "storing into \(names.controlExplain)", reason: pcpErrorText(sts)) }
        guard let text = try reply(explain, name: names.controlExplain, instance: instance), !text.isEmpty else {
            throw .noReply(metric: names.controlExplain, value: nil)
        }
        return text
    }

    /// The answer to a control store, fetched once from the same metric.
    func reply(_ pmid: pmID, name: String, instance: Int32?) throws(PipeClientError) -> String? {
        do { return try context.fetchString(pmid, instance: instance) } catch let error as PipeClientError {
            throw error
        } catch { throw .pcp(operation: "fetching \(name)", reason: "\(error)") }
    }

    /// The instance of a configured command, with the profile set to it
    /// alone (every fetch of the commands' metrics then covers only it).
    func commandInstance(named name: String) throws(PipeClientError) -> Int32 {
        guard let instance = try context.instance(named: name, in: firehoseDesc.indom) else {
            throw .noSuchInstance(name, offered: offeredNames())
        }
        try context.restrictProfile(firehoseDesc.indom, to: instance)
        return instance
    }

    /// The commands to name when a name is wrong: those the caller may run
    /// (the agent's pipe.commands shows only those), not every configured one.
    private func offeredNames() -> [String] {
        (try? commandList())?.map(\.name) ?? []
    }

    // MARK: - Running

    /// Selects `instance` (the fetch profile then covers it alone) and
    /// starts it by storing `request`'s parameters into the firehose.
    public func start(instance name: String, request: StoreRequest) throws(PipeClientError) -> PipeRun {
        let instance = try commandInstance(named: name)
        let sts = context.storeString(firehose, instance: instance, request.parameters)
        if sts < 0 { throw refusal(sts, instance: name, number: instance, parameters: request.parameters) }
        return PipeRun(connection: self, metric: firehose, instance: instance, name: name)
    }

    /// The error for a refused store that starts a run (pipe.firehose or
    /// pipe.control.start), with the agent's sentence from pipe.lasterror.
    func refusal(_ sts: Int32, instance name: String, number instance: Int32, parameters: String) -> PipeClientError {
        let detail = lastErrorText(instance: instance)
        switch sts {
        case cpcp_ERR_INST:
            return .noSuchInstance(name, offered: offeredNames())
        case cpcp_ERR_BADSTORE:
            return .badParameters(instance: name, parameters: parameters, detail: detail)
        case cpcp_ERR_PERMISSION, -Errno.permissionDenied, -Errno.notPermitted:
            // The agent answers PM_ERR_PERMISSION for commands it cannot run
            // at all too (not shared, program not trusted): its sentence says
            // which, and it is no matter of who asks.
            if let detail, !detail.lowercased().hasPrefix("permission denied") {
                return .cannotStart(instance: name, reason: pcpErrorText(sts), detail: detail)
            }
            return .permissionDenied(
                instance: name, detail: detail,
                advice: hostSpec.credentialsAdvice(agentSentence: detail))
        case cpcp_ERR_ISCONN:
            return .alreadyRunning(instance: name)
        case -Errno.tryAgain, cpcp_ERR_AGAIN:
            return .busy(instance: name, detail: detail)
        default:
            return .cannotStart(instance: name, reason: pcpErrorText(sts), detail: detail)
        }
    }

    /// The agent's sentence about this client's last failed store, if the
    /// agent has `lasterror` and has something to say.
    private func lastErrorText(instance: Int32) -> String? {
        guard let lastError else { return nil }
        guard let text = try? context.fetchString(lastError, instance: instance) else { return nil }
        let trimmed = text.trimmingASCIIWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// One fetch of an event metric (`pipe.firehose`, `pipe.run.records`)
    /// for `instance`.
    func fetchRecords<Handler: EventRecordHandler & ~Copyable>(
        _ metric: pmID, instance: Int32, into handler: inout Handler
    ) throws -> FetchOutcome {
        try context.fetch(metric) { vset -> FetchOutcome in
            try Self.decodeRecords(vset, instance: instance, layout: layout, into: &handler)
        }
    }

    /// Hands the records of `instance` in a fetched event value set to
    /// `handler` (live or from an archive).
    static func decodeRecords<Handler: EventRecordHandler & ~Copyable>(
        _ vset: UnsafeMutablePointer<pmValueSet>, instance: Int32, layout: TypeLengthLayout, into handler: inout Handler
    ) throws -> FetchOutcome {
        let numval = vset.pointee.numval
        if numval == cpcp_ERR_NOTCONN { return .ended }
        if numval < 0 {
            throw PipeClientError.pcp(operation: "fetching event records", reason: pcpErrorText(numval))
        }
        let valfmt = vset.pointee.valfmt
        var delivered = 0
        for i in 0..<Int(numval) {
            let value = cpcp_valueset_value(vset, Int32(i))!
            guard value.pointee.inst == instance else { continue }
            guard valfmt == PM_VAL_DPTR || valfmt == PM_VAL_SPTR, let block = value.pointee.value.pval else {
                throw PipeClientError.malformedEvents(.tooShort(0))
            }
            let length = Int(cpcp_valueblock_vlen(block))
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(block), count: length)
            do {
                delivered += try EventArrayDecoder.decode(bytes, layout: layout, into: &handler)
            } catch let error as EventArrayError {
                throw PipeClientError.malformedEvents(error)
            }
        }
        return delivered > 0 ? .records(delivered) : .empty
    }
}

/// What one fetch of a run produced.
public enum FetchOutcome: Sendable, Equatable {
    /// Nothing pending yet.
    case empty
    /// This many records were handed to the callback.
    case records(Int)
    /// The agent reported PM_ERR_NOTCONN: the stream is over.
    case ended
}

/// A stream of event records this connection follows: its private run of
/// a command (`pipe.firehose[cmd]`) or a shared run (`pipe.run.records[run]`).
public struct PipeRun {
    public let connection: PipeConnection
    /// The event metric the records come from.
    let metric: pmID
    public let instance: Int32
    /// The command's name, or the shared run's NAME.SEQ.
    public let name: String
    /// A shared run, which the agent may cull or stop letting this client
    /// read; a private run lasts as long as the connection.
    public var isShared: Bool = false

    /// Fetches once and hands each record to `handler`, in order, while the
    /// fetched bytes are alive. Throws PipeClientError for pmcd and decoding
    /// failures, and whatever the handler throws.
    public func fetch<Handler: EventRecordHandler & ~Copyable>(into handler: inout Handler) throws -> FetchOutcome {
        try connection.fetchRecords(metric, instance: instance, into: &handler)
    }
}
