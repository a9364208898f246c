import CPCP
import Glibc
import PipeCore
import PipeSystem

/// Tunables of a running agent, from its command line.
public struct AgentSettings: Sendable {
    /// Per-client queue limit for commands that set no `queue` of their own (-m).
    public var defaultQueueCapacity = 2 << 20
    /// Most records and payload bytes one fetch hands out, so that a backlog
    /// never turns into one huge PDU and pmcd never waits long on us.
    public var batches = BatchLimits()
    /// Bytes read from one pipe per read(2), and reads per pipe per loop turn
    /// (bounded so one chatty command cannot starve pmcd's requests).
    public var readChunk = 64 << 10
    public var readsPerTurn = 8

    public init() {}
}

/// Totals per configured command over all clients (the pipe.runs.* metrics).
/// Kept by name so that they survive configuration reloads.
struct CommandCounters {
    var started: UInt64 = 0
    var failed: UInt64 = 0
    var refused: UInt64 = 0
    var lines: UInt64 = 0
    var bytes: UInt64 = 0
    var dropped: UInt64 = 0
    var lastStatus: Int32?
}

/// The agent: configuration, clients, runs, and everything that happens to
/// them. Everything runs on the main thread, inside the main loop or inside
/// libpcp_pmda's PDU handling called from it, so no locking is needed.
final class Agent {
    let settings: AgentSettings
    let table: MetricTable
    let loader: ConfigurationLoader
    var instances: InstanceDomain
    var configuration: Configuration { planner.configuration }
    var planner: LaunchPlanner
    /// What the planner asks of the machine; accounts cached per configuration.
    let facts = SystemLaunchFacts()
    /// Uids of PCP's own daemons (`PCP_USER`, normally `pcp`): see LaunchContext.daemonUIDs.
    let daemonUIDs: Set<UInt32>

    var clients: [Int32: ClientContext] = [:]
    /// Runs that still need supervision: not finished, or with leftovers to kill.
    var runs: [UInt64: Run] = [:]
    var runByPID: [Int32: Run] = [:]
    var admission = Admission()
    var counters: [String: CommandCounters] = [:]
    var reloads: UInt32 = 0
    var reloadFailures: UInt32 = 0
    var nextRunID: UInt64 = 1
    var shuttingDown = false
    /// Set during a fetch when a requested stream has ended (see the fetch trampoline).
    var streamsEndedThisFetch = false
    /// When to give memory back to the system after the last run ended.
    var idleTrimAt: UInt64?

    /// Event arrays handed to libpcp in the current PDU; freed once it is sent.
    var arraysToRelease: [EventArrayWriter] = []
    var freeArrays: [EventArrayWriter] = []
    /// Stderr chunks already copied to the log, per run (bounded, to protect the log).
    var stderrLogged: [UInt64: Int] = [:]

    let readBuffer: UnsafeMutableRawBufferPointer
    /// How run output is stored and sent: the event parameters' PMIDs (with
    /// the domain pmdaInit settled) and how this build of libpcp lays out
    /// the type/length bitfields.
    let eventFormat: EventFormat

    init(settings: AgentSettings, table: MetricTable, loader: ConfigurationLoader, configuration: Configuration) {
        self.settings = settings
        self.table = table
        self.loader = loader
        self.planner = LaunchPlanner(configuration: configuration)
        self.daemonUIDs = Set([SystemLaunchFacts.lookUpAccount(Self.pcpUser)?.uid].compactMap { $0 })
        facts.prepare(for: configuration)
        self.instances = InstanceDomain(indom: table.commandsIndom)
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: settings.readChunk, alignment: 16)
        self.eventFormat = EventFormat(
            parameters: EventParameterIDs(
                line: table.pmid(of: .line), errline: table.pmid(of: .errline),
                rawline: table.pmid(of: .rawline), rawerrline: table.pmid(of: .rawerrline),
                continued: table.pmid(of: .continued), exitstatus: table.pmid(of: .exitstatus),
                endreason: table.pmid(of: .endreason)),
            layout: TypeLengthLayout { cpcp_param_word($0, $1) })
        instances.activate(configuration.commands.map(\.name))
    }

    // MARK: - Clients

    func client(_ context: Int32) -> ClientContext {
        if let existing = clients[context] { return existing }
        let created = ClientContext(id: context)
        clients[context] = created
        return created
    }

    /// PCP's own account, as /etc/pcp.conf names it (PCP_USER).
    static var pcpUser: String {
        guard let value = pmGetOptionalConfig("PCP_USER") else { return "pcp" }
        return String(cString: value)
    }

    /// pmcd tells us who the client is (PMDA_ATTR_*), once per context:
    /// uid, gid and pid for a unix-socket client, user name, uid and gid for
    /// one that authenticated with SASL (libpcp's auxserver.c, secureserver.c).
    func attribute(context: Int32, attribute: Int32, value: String) {
        let client = client(context)
        switch attribute {
        case PMDA_ATTR_USERID: client.uid = UInt32(value)
        case PMDA_ATTR_GROUPID: client.gid = UInt32(value)
        case PMDA_ATTR_USERNAME: client.saslUser = value
        case PMDA_ATTR_PROCESSID: client.pid = Int32(value)
        default: return
        }
        client.identity = nil
    }

    /// The client context is gone: stop everything it started.
    func endContext(_ context: Int32) {
        guard let client = clients.removeValue(forKey: context) else { return }
        for case .active(let run) in client.streams.values {
            detach(run)
        }
    }

    /// The client's user and all its groups, looked up by the agent (pmcd only
    /// passes the uid and one gid), once per context.
    func identity(of client: ClientContext) -> ClientIdentity {
        if let known = client.identity { return known }
        guard let uid = client.uid else {
            let nobody = ClientIdentity()
            client.identity = nobody
            return nobody
        }
        var groupIDs: [UInt32] = []
        var groupNames: [String] = []
        var userName = client.saslUser
        if let account = Accounts.user(id: uid) {
            userName = account.name
            for group in Accounts.groups(of: account) {
                groupIDs.append(group.gid)
                if let name = group.name { groupNames.append(name) }
            }
        }
        if let gid = client.gid, !groupIDs.contains(gid) {
            groupIDs.append(gid)
            if let name = Accounts.groupName(id: gid) { groupNames.append(name) }
        }
        let authentication: Authentication = client.saslUser.map { .sasl(user: $0) } ?? .unixSocket(pid: client.pid)
        let identity = ClientIdentity(uid: uid, gid: client.gid, userName: userName, groupNames: groupNames,
                                      groupIDs: groupIDs, authentication: authentication)
        client.identity = identity
        return identity
    }

    // MARK: - Starting a command (pmStore into pipe.firehose)

    /// Handles one store into pipe.firehose[instance]; returns 0 or a PCP error.
    func store(context: Int32, instance: Int32, parameterBytes: [UInt8]) -> Int32 {
        let client = client(context)
        do {
            let run = try start(client: client, instance: instance, parameterBytes: parameterBytes)
            client.lastError[instance] = nil
            Log.info(audit(run: run, event: "started"))
            return 0
        } catch {
            let name = instances.nameByNumber[instance]
            if let name { counters[name, default: CommandCounters()].refused += 1 }
            client.lastError[instance] = error.message
            Log.warning(audit(client: client, instance: name ?? "#\(instance)",
                              parameters: decodedForLog(parameterBytes), refusal: error))
            return error.pcpCode
        }
    }

    private func start(client: ClientContext, instance: Int32, parameterBytes: [UInt8]) throws(LaunchRefusal) -> Run {
        guard let name = instances.nameByNumber[instance] else { throw .unknownInstance("#\(instance)") }
        let identity = identity(of: client)
        var active = Set<String>()
        for (number, stream) in client.streams {
            if case .active = stream, let activeName = instances.nameByNumber[number] { active.insert(activeName) }
        }
        let context = LaunchContext(admission: admission, activeInstances: active, daemonUIDs: daemonUIDs,
                                    shuttingDown: shuttingDown)
        let plan: LaunchPlan
        switch planner.plan(instance: name, parameterBytes: parameterBytes, client: identity,
                            context: context, facts: facts) {
        case .success(let decided): plan = decided
        case .failure(let refusal): throw refusal
        }
        let spec = plan.spec
        let path = plan.invocation.program
        if !plan.invocation.usesShell, let pin = spec.options.sha256 {
            let digest: [UInt8]
            do { digest = try Executables.sha256(ofFile: path) } catch {
                throw .cannotRun("cannot read \(path) to check its pinned sha256: \(error)")
            }
            guard digest == pin else {
                throw .cannotRun("\(path) no longer matches its pinned sha256, so it is not run")
            }
        }
        let uid = identity.uid ?? 0
        let parameters = plan.parameters

        var request = SpawnRequest(
            executablePath: path, arguments: plan.invocation.arguments,
            environment: plan.environment,
            userID: plan.account.uid, groupID: plan.account.gid,
            supplementaryGroups: plan.account.groups)
        request.capabilities = spec.options.capabilities?.map(\.number)
        request.noNewPrivileges = spec.options.noNewPrivileges

        let process: SpawnedProcess
        do { process = try Spawner.spawn(request) } catch {
            throw .startFailed(reason: "cannot start the command: \(error)", errno: error.errno)
        }

        let output = RunOutput(
            queueCapacity: spec.options.queueCapacity?.bytes ?? settings.defaultQueueCapacity,
            policy: spec.options.overflow, maxLineLength: spec.options.maxLineLength, format: eventFormat)
        let run = Run(id: nextRunID, context: client.id, instance: instance, spec: spec, client: identity,
                      parameters: parameters, process: process, output: output,
                      now: Clock.monotonicNanoseconds(), wall: Clock.now())
        nextRunID += 1
        runs[run.id] = run
        runByPID[run.pid] = run
        admission.started(instance: name, uid: uid)
        counters[name, default: CommandCounters()].started += 1
        client.streams[instance] = .active(run)
        return run
    }

    // MARK: - Output

    /// Reads what a command wrote, a bounded amount per loop turn.
    func readOutput(_ run: Run, _ kind: StreamKind) {
        for _ in 0..<settings.readsPerTurn {
            guard let fd = kind == .stdout ? run.stdout : run.stderr else { return }
            guard run.output.wantsInput else { return }
            let result: FileDescriptor.ReadResult
            do {
                result = try fd.read(into: readBuffer)
            } catch {
                Log.error("\(run.name) pid \(run.pid): reading its \(kind) failed: \(error)")
                closeStream(run, kind)
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfFile:
                closeStream(run, kind)
                return
            case .bytes(let count):
                let chunk = UnsafeRawBufferPointer(rebasing: readBuffer[0..<count])
                ingest(run, kind, chunk)
                if let limit = run.spec.options.outputLimit, run.output.bytesIngested > UInt64(limit.bytes),
                   run.stopReason == nil {
                    stop(run, reason: "output limit \(limit) reached")
                }
                if count < readBuffer.count { return }
            }
        }
    }

    private func ingest(_ run: Run, _ kind: StreamKind, _ chunk: UnsafeRawBufferPointer) {
        let now = Clock.now()
        guard kind == .stderr else {
            run.output.ingest(chunk, from: .stdout, at: now)
            return
        }
        switch run.spec.options.stderr {
        case .records:
            run.output.ingest(chunk, from: .stderr, at: now)
            logStderr(run, chunk, limit: 3)
        case .log:
            logStderr(run, chunk, limit: 100)
        case .discard:
            break
        }
    }

    /// Copies a command's stderr to the agent's log, a bounded number of chunks per run.
    private func logStderr(_ run: Run, _ chunk: UnsafeRawBufferPointer, limit: Int) {
        let logged = stderrLogged[run.id, default: 0]
        guard logged <= limit else { return }
        stderrLogged[run.id] = logged + 1
        if logged == limit {
            Log.info("\(run.name) pid \(run.pid) stderr: (more output not logged)")
            return
        }
        let text = String(decoding: chunk.prefix(512), as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " | ")
        Log.info("\(run.name) pid \(run.pid) stderr: \(text)")
    }

    func closeStream(_ run: Run, _ kind: StreamKind) {
        switch kind {
        case .stdout: run.stdout?.close(); run.stdout = nil
        case .stderr: run.stderr?.close(); run.stderr = nil
        }
        if !run.detached { run.output.closeStream(kind, at: Clock.now()) }
        finishIfDone(run)
    }

    // MARK: - Ending runs

    /// SIGCHLD: reap every exited child, ours or orphans re-parented to us.
    func reapChildren() {
        let now = Clock.monotonicNanoseconds()
        for (pid, termination) in Reaper.reapAll() {
            guard let run = runByPID.removeValue(forKey: pid) else { continue }
            run.termination = termination
            // Anything the command left running in its process group would
            // outlive it: the run is over, so it gets SIGTERM, then SIGKILL.
            if ProcessGroup.signal(run.pid, SIGTERM), run.killAt == nil {
                run.killAt = now + run.spec.options.killGrace.nanoseconds
            }
            finishIfDone(run)
        }
    }

    /// A run is over once its process is reaped and both pipes reached EOF.
    func finishIfDone(_ run: Run) {
        guard !run.finished, let termination = run.termination, !run.pipesOpen else {
            retireIfIdle(run)
            return
        }
        run.finished = true
        let name = run.name
        if !run.detached { run.output.finish(termination, at: Clock.now()) }
        if let uid = run.client.uid { admission.ended(instance: name, uid: uid) }
        var totals = counters[name, default: CommandCounters()]
        totals.lines += run.output.queue.totalRecords
        totals.bytes += run.output.queue.totalBytes
        totals.dropped += run.output.queue.totalDropped
        if !termination.succeeded || run.stopReason != nil { totals.failed += 1 }
        totals.lastStatus = termination.shellStatus
        counters[name] = totals
        clients[run.context]?.lastStatus[run.instance] = termination
        stderrLogged[run.id] = nil
        Log.info(audit(run: run, event: "ended"))
        retireIfIdle(run)
    }

    /// Drops a run from supervision once nothing about it can still change.
    private func retireIfIdle(_ run: Run) {
        guard run.finished, run.killAt == nil, run.forceCloseAt == nil else { return }
        runs[run.id] = nil
        if run.detached { releaseArray(of: run) }
        if runs.isEmpty {
            idleTrimAt = Clock.monotonicNanoseconds() + 2_000_000_000
        }
    }

    /// Once the agent has been idle for a moment, it hands back what a burst
    /// left behind: freed queue memory kept in malloc's arenas, and the code
    /// pages it faulted in (see Memory.dropStartupPages).
    private func trimIfIdle(now: UInt64) {
        guard let at = idleTrimAt, now >= at else { return }
        idleTrimAt = nil
        guard runs.isEmpty else { return }
        releasePooledArrays()
        Memory.releaseFreePages()
        Memory.dropStartupPages()
    }

    /// Asks the run's whole process group to stop: SIGTERM now, SIGKILL after
    /// the command's grace period (handled by the timers, never by waiting).
    func stop(_ run: Run, reason: String) {
        if run.stopReason == nil { run.stopReason = reason }
        guard ProcessGroup.signal(run.pid, SIGTERM) else { return }
        if run.killAt == nil {
            run.killAt = Clock.monotonicNanoseconds() + run.spec.options.killGrace.nanoseconds
        }
    }

    /// The client is gone: nobody will read the output, so the pipes close
    /// (a writer then gets SIGPIPE) and the command is stopped.
    func detach(_ run: Run) {
        run.detached = true
        run.closePipes()
        if run.termination == nil { stop(run, reason: "client disconnected") }
        finishIfDone(run)
    }

    /// Time limits, SIGKILL escalation and last-resort pipe closing.
    func runTimers() {
        let now = Clock.monotonicNanoseconds()
        for run in Array(runs.values) {
            if let at = run.timeLimitAt, now >= at {
                run.timeLimitAt = nil
                if run.termination == nil, let limit = run.spec.options.timeLimit {
                    stop(run, reason: "time limit \(limit) reached")
                }
            }
            if let at = run.killAt, now >= at {
                run.killAt = nil
                if ProcessGroup.signal(run.pid, SIGKILL) {
                    Log.info("\(run.name) pid \(run.pid): still running after SIGTERM, sent SIGKILL to its process group")
                }
                // Something outside the group may still hold the pipes: give it a
                // moment, then stop waiting for EOF.
                if run.pipesOpen { run.forceCloseAt = now + 1_000_000_000 }
            }
            if let at = run.forceCloseAt, now >= at {
                run.forceCloseAt = nil
                if run.stdout != nil { closeStream(run, .stdout) }
                if run.stderr != nil { closeStream(run, .stderr) }
            }
            finishIfDone(run)
        }
        trimIfIdle(now: now)
    }

    /// Milliseconds until the next timer, or -1 for none (poll forever: an
    /// idle agent does not wake up).
    func pollTimeout() -> Int32 {
        guard let next = (runs.values.compactMap(\.nextDeadline) + [idleTrimAt].compactMap { $0 }).min() else {
            return -1
        }
        let now = Clock.monotonicNanoseconds()
        if next <= now { return 0 }
        return Int32(min((next - now) / 1_000_000 + 1, 60_000))
    }

    // MARK: - Configuration

    /// SIGHUP: read the configuration again. A bad one is rejected whole and
    /// the current one stays; running commands are not disturbed either way.
    func reload() {
        switch loader.load(strict: false) {
        case .success(let loaded):
            planner = LaunchPlanner(configuration: loaded.configuration)
            facts.prepare(for: loaded.configuration)
            instances.activate(configuration.commands.map(\.name))
            reloads += 1
            for warning in loaded.warnings { Log.warning("configuration: \(warning)") }
            Log.info("configuration reloaded: \(configuration.commands.count) commands")
        case .failure(let failure):
            reloadFailures += 1
            Log.error("configuration rejected, the previous one stays in force:")
            for error in failure.errors { Log.error("  \(error)") }
        }
    }

    // MARK: - Shutdown

    /// pmcd went away or asked us to stop: stop every command, give them their
    /// grace period (at most 5 s in all), then SIGKILL what is left and reap.
    func shutdown(signals: SignalFD) {
        shuttingDown = true
        for run in runs.values {
            run.closePipes()
            if run.termination == nil { stop(run, reason: "agent shutting down") }
        }
        let grace = runs.values.map { $0.spec.options.killGrace.nanoseconds }.max() ?? 0
        let deadline = Clock.monotonicNanoseconds() + min(grace, 5_000_000_000)
        while runs.values.contains(where: { $0.termination == nil }), Clock.monotonicNanoseconds() < deadline {
            var poll = PollSet()
            poll.add(signals.descriptor, token: 0)
            _ = try? poll.wait(timeoutMilliseconds: 100)
            _ = signals.drain()
            reapChildren()
        }
        for run in runs.values { ProcessGroup.signal(run.pid, SIGKILL) }
        for _ in 0..<20 {
            reapChildren()
            if runByPID.isEmpty { break }
            usleep(50_000)
        }
        _ = Reaper.reapAll()
    }

    // MARK: - Audit

    func audit(run: Run, event: String) -> String {
        var record = AuditRecord(time: Clock.now(), context: run.context, instance: run.name,
                                 parameters: run.parameters, decision: .allowed)
        record.uid = run.client.uid
        record.gid = run.client.gid
        record.user = run.client.userName
        record.pid = run.pid
        if event == "ended" {
            record.termination = run.termination
            record.stopReason = run.stopReason
            let elapsed = Clock.monotonicNanoseconds() - run.startedAt
            record.duration = .nanoseconds(Int64(elapsed))
            record.lines = run.output.queue.totalRecords
            record.bytes = run.output.queue.totalBytes
            record.dropped = run.output.queue.totalDropped
        }
        return "\(event): \(record.logLine)"
    }

    func audit(client: ClientContext, instance: String, parameters: [String], refusal: LaunchRefusal) -> String {
        var record = AuditRecord(time: Clock.now(), context: client.id, instance: instance,
                                 parameters: parameters, decision: .refused(refusal.message))
        record.uid = client.uid
        record.gid = client.gid
        record.user = identity(of: client).userName
        return "refused: \(record.logLine)"
    }

    /// The parameters of a refused request as best they can be shown in the log.
    private func decodedForLog(_ bytes: [UInt8]) -> [String] {
        let trimmed = bytes.last == 0 ? Array(bytes.dropLast()) : bytes
        return [String(decoding: trimmed.prefix(1024), as: UTF8.self)]
    }
}
