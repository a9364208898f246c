import CPCP
import PipeCore

// Shared runs: started through pipe.control.start, stopped through
// pipe.control.stop (string metrics, answered once per context), read
// through pipe.run.records[NAME.SEQ] from this context's own position.

extension PipeConnection {
    /// The instance domain of shared runs (that of pipe.run.records).
    func runsIndom() throws(PipeClientError) -> pmInDom {
        let records = try require(names.runRecords, for: "shared runs")
        return try context.descriptor(records, name: names.runRecords).indom
    }

    // MARK: - Starting and stopping

    /// Starts a shared run of `instance` (a command configured with
    /// `shared = yes`) and returns its name, NAME.SEQ. A refusal is the
    /// same error as for a private run, with the agent's sentence.
    public func startShared(instance name: String, request: StoreRequest) throws(PipeClientError) -> String {
        let start = try require(names.controlStart, for: "shared runs")
        let instance = try commandInstance(named: name)
        let sts = context.storeString(start, instance: instance, request.parameters)
        if sts < 0 { throw refusal(sts, instance: name, number: instance, parameters: request.parameters) }
        let text = try reply(start, name: names.controlStart, instance: instance)
        switch text.flatMap(ControlReply.parse) {
        case .run(let run)?:
            return run
        case .error(let message)?:
            throw .cannotStart(instance: name, reason: message, detail: nil)
        default:
            throw .noReply(metric: names.controlStart, value: text)
        }
    }

    /// Asks the agent to stop `run` (allowed to its owner and root).
    /// Returns whether the run had already finished (nothing was left to stop).
    @discardableResult
    public func stop(run: String) throws(PipeClientError) -> Bool {
        let stop = try require(names.controlStop, for: "shared runs")
        let sts = context.storeString(stop, instance: Int32(bitPattern: cpcp_IN_NULL), run)
        let text = try reply(stop, name: names.controlStop, instance: nil)
        let parsed = text.flatMap(ControlReply.parse)
        if sts >= 0, case .stopped(_, let alreadyFinished)? = parsed { return alreadyFinished }
        let permission = sts == cpcp_ERR_PERMISSION
        let advice = permission ? hostSpec.credentialsAdvice(agentSentence: nil) : nil
        switch parsed {
        case .error(let message)?:
            throw .cannotStop(run: run, reason: message, advice: advice)
        default:
            if sts < 0 { throw .cannotStop(run: run, reason: pcpErrorText(sts), advice: advice) }
            throw .noReply(metric: names.controlStop, value: text)
        }
    }

    // MARK: - Reading

    /// Prepares to follow `run`: finds it, restricts the profile to it and
    /// checks that this client may read it. Returns the stream and the time
    /// on the agent's host at that moment (pmcd's timestamp of the check),
    /// from which `--attach` prints.
    public func attach(run: String) throws(PipeClientError) -> (run: PipeRun, attachedAt: Timestamp) {
        let records = try require(names.runRecords, for: "shared runs")
        let status = try require(names.runStatus, for: "shared runs")
        let indom = try runsIndom()
        guard let instance = try context.instance(named: run, in: indom) else { throw .noSuchRun(run) }
        try context.restrictProfile(indom, to: instance)
        let checked: (String?, Timestamp)
        do {
            checked = try context.fetch(status) { vset, time in
                (context.stringValue(in: vset, instance: instance), time)
            }
        } catch let error as PipeClientError {
            throw error
        } catch {
            throw .pcp(operation: "fetching \(names.runStatus)", reason: "\(error)")
        }
        guard checked.0 != nil else {
            throw .cannotReadRun(run, advice: hostSpec.credentialsAdvice(agentSentence: nil))
        }
        return (PipeRun(connection: self, metric: records, instance: instance, name: run, isShared: true), checked.1)
    }

    /// Whether `run` still has a status this client may read (a run the
    /// agent culled, or stopped letting it read, has none). Errors count as
    /// yes: the next fetch of the records reports them.
    func stillReadable(_ run: PipeRun) -> Bool {
        guard let status = try? context.lookup(names.runStatus) else { return true }
        do { return try context.fetchString(status, instance: run.instance) != nil } catch { return true }
    }

    /// The shared runs this client may read, in the agent's order (the
    /// order they started). Runs it may not read have no values and are left out.
    public func sharedRuns() throws(PipeClientError) -> [RunEntry] {
        let indom = try runsIndom()
        let instances = try context.instances(of: indom, purpose: "listing the shared runs")
        guard !instances.isEmpty else { return [] }
        let status = try strings(of: try require(names.runStatus, for: "shared runs"), name: names.runStatus)
        let owner = try strings(of: try require(names.runOwner, for: "shared runs"), name: names.runOwner)
        let command = try strings(of: try require(names.runCommand, for: "shared runs"), name: names.runCommand)
        let params = try strings(of: try require(names.runParams, for: "shared runs"), name: names.runParams)
        let lines = try integers(of: try require(names.runLines, for: "shared runs"), name: names.runLines)
        let exit = try integers(of: try require(names.runExitStatus, for: "shared runs"), name: names.runExitStatus)
        return instances.compactMap { instance in
            guard let state = status[instance.id] else { return nil }
            return RunEntry(
                name: instance.name, owner: owner[instance.id] ?? "?", status: state,
                exitStatus: exit[instance.id].map { Int32(truncatingIfNeeded: $0) },
                lines: UInt64(max(0, lines[instance.id] ?? 0)), parameters: params[instance.id] ?? "",
                command: command[instance.id] ?? "")
        }
    }

    /// An integer metric's values, by instance.
    func integers(of pmid: pmID, name: String) throws(PipeClientError) -> [Int32: Int64] {
        let type = try context.descriptor(pmid, name: name).type
        do { return try context.fetchIntegers(pmid, type: type) } catch let error as PipeClientError {
            throw error
        } catch { throw .pcp(operation: "fetching \(name)", reason: "\(error)") }
    }
}
