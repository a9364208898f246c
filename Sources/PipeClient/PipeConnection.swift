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

    private let context: PCPContext
    private let firehose: pmID
    private let firehoseDesc: pmDesc
    private let lastError: pmID?
    private let commands: pmID?

    /// Connects to pmcd on `host` and checks that the agent is there.
    public init(host: String, prefix: String = "pipe") throws(PipeClientError) {
        names = PipeMetricNames(prefix: prefix)
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

    /// The configured commands: instance name and command line, in the
    /// agent's order.
    public func configuredCommands() throws(PipeClientError) -> [(instance: String, command: String)] {
        let instances = try context.instances(of: firehoseDesc.indom)
        var lines: [Int32: String] = [:]
        if let commands {
            do { lines = try context.fetchStrings(commands) } catch let error as PipeClientError {
                throw error
            } catch { throw .pcp(operation: "fetching \(names.commands)", reason: "\(error)") }
        }
        return instances.map { ($0.name, lines[$0.id] ?? "") }
    }

    // MARK: - Running

    /// Selects `instance` (the fetch profile then covers it alone) and
    /// starts it by storing `request`'s parameters into the firehose.
    public func start(instance name: String, request: StoreRequest) throws(PipeClientError) -> PipeRun {
        let parameters = request.parameters
        guard let instance = try context.instance(named: name, in: firehoseDesc.indom) else {
            let configured = (try? context.instances(of: firehoseDesc.indom))?.map(\.name) ?? []
            throw .noSuchInstance(name, configured: configured)
        }
        try context.restrictProfile(firehoseDesc.indom, to: instance)
        let sts = context.storeString(firehose, instance: instance, parameters)
        if sts < 0 {
            let detail = lastErrorText(instance: instance)
            switch sts {
            case cpcp_ERR_INST:
                throw .noSuchInstance(name, configured: (try? context.instances(of: firehoseDesc.indom))?.map(\.name) ?? [])
            case cpcp_ERR_BADSTORE:
                throw .badParameters(instance: name, parameters: parameters, detail: detail)
            case cpcp_ERR_PERMISSION, -Errno.permissionDenied, -Errno.notPermitted:
                throw .permissionDenied(instance: name, detail: detail, overTCP: !context.isUnixSocket)
            case cpcp_ERR_ISCONN:
                throw .alreadyRunning(instance: name)
            case -Errno.tryAgain, cpcp_ERR_AGAIN:
                throw .busy(instance: name, detail: detail)
            default:
                throw .cannotStart(instance: name, reason: pcpErrorText(sts), detail: detail)
            }
        }
        return PipeRun(connection: self, instance: instance)
    }

    /// The agent's sentence about this client's last failed store, if the
    /// agent has `lasterror` and has something to say.
    private func lastErrorText(instance: Int32) -> String? {
        guard let lastError else { return nil }
        guard let text = try? context.fetchString(lastError, instance: instance) else { return nil }
        let trimmed = text.trimmingASCIIWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// One fetch of the firehose for `instance`.
    func fetchRecords<Handler: EventRecordHandler & ~Copyable>(
        instance: Int32, into handler: inout Handler
    ) throws -> FetchOutcome {
        try context.fetch(firehose) { vset -> FetchOutcome in
            let numval = vset.pointee.numval
            if numval == cpcp_ERR_NOTCONN { return .ended }
            if numval < 0 {
                throw PipeClientError.pcp(operation: "fetching \(names.firehose)", reason: pcpErrorText(numval))
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

/// A started run of one instance for this connection.
public struct PipeRun {
    public let connection: PipeConnection
    public let instance: Int32

    /// Fetches once and hands each record to `handler`, in order, while the
    /// fetched bytes are alive. Throws PipeClientError for pmcd and decoding
    /// failures, and whatever the handler throws.
    public func fetch<Handler: EventRecordHandler & ~Copyable>(into handler: inout Handler) throws -> FetchOutcome {
        try connection.fetchRecords(instance: instance, into: &handler)
    }
}
