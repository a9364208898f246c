import CPCP
import PipeCore
import PipeSystem

/// Tunables of a running agent, from its command line.
struct AgentSettings {
    /// Per-client queue limit for commands that set no `queue` of their own (-m).
    var defaultQueueCapacity = 2 << 20
    /// Most records and payload bytes one fetch hands out, so that a backlog
    /// never turns into one huge PDU and pmcd never waits long on us.
    var batches = BatchLimits()
    /// Bytes read from one pipe per read(2), and reads per pipe per loop turn
    /// (bounded so one chatty command cannot starve pmcd's requests).
    var readChunk = 64 << 10
    var readsPerTurn = 8
    /// Stderr chunks of one run copied to the log at most.
    var stderrChunksLogged = 20
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

/// The agent: configuration, clients, runs and what happens to them. The
/// parts live in files named for them: Trampolines (the C boundary),
/// MainLoop, ClientRegistry, Launcher (plans become processes), Supervisor
/// (runs' lifecycles carried out), OutputPump (pipes become records),
/// EventArrayPool, AuditLog, MetricValues. Everything runs on the main
/// thread, inside the main loop or inside libpcp_pmda's PDU handling called
/// from it, so no locking is needed.
final class Agent {
    let settings: AgentSettings
    let table: MetricTable
    let loader: ConfigurationLoader
    var commands: CommandInstances
    var planner: LaunchPlanner
    var configuration: Configuration { planner.configuration }
    /// What the planner asks of the machine; accounts cached per configuration.
    let facts = SystemLaunchFacts()
    /// Programs opened for execution and their pins (hashing off this thread).
    let pins: PinnedExecutables
    /// Where runs' cgroups can go on this machine.
    let cgroups: CgroupLayout
    /// Uids of PCP's own daemons (`PCP_USER`, normally `pcp`): see
    /// LaunchContext.daemonUIDs.
    let daemonUIDs: Set<UInt32>

    let clients = ClientRegistry()
    /// Shared runs, running or retained, by their runs-indom instance.
    var sharedRuns: [Int32: Run] = [:]
    var runInstances: RunInstances
    /// When each autostart command is to be started again, and the backoff
    /// that led there.
    var restarts = RestartSchedule()
    /// Runs still supervised: not finished, or not yet delivered.
    var runs: [UInt64: Run] = [:]
    var runByPID: [Int32: Run] = [:]
    var admission = Admission()
    var counters: [String: CommandCounters] = [:]
    var reloads: UInt32 = 0
    var reloadFailures: UInt32 = 0
    /// Pinned programs whose digest is not known yet in this configuration.
    var pinsToReport: [PinToReport] = []
    var nextRunID: UInt64 = 1
    var shuttingDown = false
    let audit = AuditLog()
    let arrays: EventArrayPool
    /// When to give memory back after the last run ended.
    var idleTrimAt: Instant?
    /// Whether cgroup creation failed once (then runs fall back, logged once).
    var cgroupWarningLogged = false
    /// Event metrics whose stream ended in the PDU being answered (see the
    /// fetch trampoline).
    var endedStreamsInPDU: Set<UInt32> = []
    /// How many times the fetch being answered names its most repeated
    /// metric: event batches are shared among the copies (see BatchLimits).
    var copiesInPDU = 1

    let readBuffer: UnsafeMutableRawBufferPointer
    /// How run output is stored and sent: the event parameters' PMIDs and
    /// how this build of libpcp lays out the type/length bitfields.
    let eventFormat: EventFormat

    init(
        settings: AgentSettings, table: MetricTable, loader: ConfigurationLoader,
        configuration: Configuration, pins: PinnedExecutables
    ) {
        self.settings = settings
        self.table = table
        self.loader = loader
        self.planner = LaunchPlanner(configuration: configuration)
        self.pins = pins
        self.cgroups = CgroupLayout.detect()
        self.daemonUIDs = Set([SystemLaunchFacts.lookUpAccount(Self.pcpUser)?.uid].compactMap { $0 })
        self.commands = CommandInstances(indom: table.indom(.commands))
        self.runInstances = RunInstances(indom: table.indom(.runs))
        self.readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: settings.readChunk, alignment: 16)
        let layout = TypeLengthLayout { cpcp_param_word($0, $1) }
        self.eventFormat = EventFormat(parameters: table.eventParameterIDs, layout: layout)
        self.arrays = EventArrayPool(layout: layout)
        adopt(configuration)
        if cgroups.canTrack {
            let killed = CgroupProcessSet.removeLeftovers(layout: cgroups)
            if killed > 0 { Log.warning("killed \(killed) processes left in runs' cgroups by an earlier agent") }
        } else {
            Log.warning("no writable cgroup2 hierarchy: runs are tracked by process group and /proc descendants")
        }
        startAutostartRuns(now: Clock.monotonic())
    }

    /// PCP's own account, as /etc/pcp.conf names it (PCP_USER).
    static var pcpUser: String {
        guard let value = pmGetOptionalConfig("PCP_USER") else { return "pcp" }
        return String(cString: value)
    }

    /// Makes `configuration` the one in force: planner, accounts, pins, and
    /// the instances (configured commands plus those with runs still going,
    /// so that their clients still get every line and the end record).
    func adopt(_ configuration: Configuration) {
        planner = LaunchPlanner(configuration: configuration)
        Log.maximumBytes = configuration.limits.logSize
        facts.prepare(for: configuration)
        refreshInstances()
        pinsToReport = configuration.commands.compactMap { command in
            guard let pin = command.options.sha256, command.template.isDirect,
                let path = try? Executables.resolve(command.template.programName)
            else { return nil }
            return PinToReport(instance: command.name, path: path, pin: pin)
        }
        let pinned = pinsToReport.map(\.path)
        pins.forget(except: pinned)
        pins.prefetch(pinned)
        reportPinMismatches()
    }

    /// A pin whose program has not been hashed yet since the configuration
    /// was loaded (see `reportPinMismatches`).
    struct PinToReport {
        var instance: String
        var path: String
        var pin: [UInt8]
    }

    /// Logs, once per configuration load, each pinned program whose bytes
    /// do not match its `sha256`, as soon as the worker has hashed it (-C
    /// hashes in place; a running agent must not, see ConfigurationLoader).
    /// A run of it is refused either way.
    func reportPinMismatches() {
        let hashing = pins.isHashing
        pinsToReport.removeAll { entry in
            guard let digest = pins.cachedDigest(of: entry.path) else { return !hashing }
            if digest != entry.pin {
                Log.warning(
                    "configuration: instance \(entry.instance): "
                        + ExecutableRefusal.mismatch(entry.path, actual: SHA256Hasher.hex(digest))
                        + ": it will not run until the program or the pin is corrected")
            }
            return true
        }
    }

    func refreshInstances() {
        var names = configuration.commands.map(\.name)
        for run in runs.values where !names.contains(run.name) { names.append(run.name) }
        commands.activate(names)
    }

    // MARK: - Stores

    /// A store into pipe.firehose[instance]: start the command for this
    /// client, or say why not (pipe.lasterror, the audit log, a PCP code).
    func storeFirehose(context: Int32, instance: Int32, parameterBytes: [UInt8]) -> Int32 {
        let client = clients.context(context)
        switch launch(client: client, instance: instance, parameterBytes: parameterBytes) {
        case .success(let run):
            client.lastError[instance] = nil
            audit.record(.started(run), now: Clock.monotonic())
            return 0
        case .failure(let refusal):
            return refuse(refusal, client: client, context: context, instance: instance, parameterBytes: parameterBytes)
        }
    }

    /// What every refused store does, into pipe.firehose or pipe.control.start:
    /// counts it against the command (pipe.commands.refused), keeps the sentence
    /// for pipe.lasterror and writes the audit line. Returns the PCP error code
    /// pmcd hands back to the client (Refusal+PCP).
    func refuse(
        _ refusal: LaunchRefusal, client: ClientContext, context: Int32, instance: Int32, parameterBytes: [UInt8]
    ) -> Int32 {
        let name = commands.nameByNumber[instance]
        if let name { counters[name, default: CommandCounters()].refused += 1 }
        client.lastError[instance] = refusal.message
        audit.record(
            .refused(
                client: clients.identity(of: client), context: context,
                instance: name ?? "#\(instance)", parameters: Self.decodedForLog(parameterBytes),
                reason: refusal.message), now: Clock.monotonic())
        return refusal.pcpCode
    }

    /// A store into pipe.control.explain[instance]: what the request would
    /// do, answered to the next fetch of the same context.
    func storeExplain(context: Int32, instance: Int32, parameterBytes: [UInt8]) -> Int32 {
        let client = clients.context(context)
        guard let name = commands.nameByNumber[instance] else { return cpcp_ERR_INST }
        let identity = clients.identity(of: client)
        let assessment = planner.assess(
            instance: name, parameterBytes: parameterBytes, client: identity,
            context: launchContext(for: client), facts: facts)
        client.replies[.controlExplain, default: [:]][instance] = LaunchExplanation(assessment).text
        return 0
    }

    func launchContext(for client: ClientContext) -> LaunchContext {
        var active = Set<String>()
        for run in client.activeRuns { active.insert(run.name) }
        return LaunchContext(
            admission: admission, activeInstances: active, daemonUIDs: daemonUIDs,
            shuttingDown: shuttingDown)
    }

    /// The parameters of a refused request as best they can be shown in the log.
    static func decodedForLog(_ bytes: [UInt8]) -> [String] {
        [String(decoding: storedText(bytes).prefix(1024), as: UTF8.self)]
    }

    /// A stored string value's bytes without the NUL that ends a
    /// PM_TYPE_STRING value when it comes from libpcp (pmStore(3)).
    static func storedText(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        bytes.last == 0 ? bytes.dropLast() : bytes[...]
    }

    // MARK: - Clients

    /// The client context is gone: stop everything it started.
    func endContext(_ context: Int32) {
        guard let client = clients.remove(context) else { return }
        let now = Clock.monotonic()
        for run in client.activeRuns {
            run.detached = true
            deliver(.stop(.clientGone), to: run, now: now)
            // A run that had already finished gets no further event: drop
            // it (and its unread output) now, or nothing ever would.
            retireIfDone(run)
        }
    }

    // MARK: - Configuration

    /// SIGHUP: read the configuration again. A bad one is rejected whole and
    /// the current one stays; running commands are not disturbed either way,
    /// and a run whose command disappeared finishes normally.
    func reload() {
        switch loader.load(strict: false) {
        case .success(let loaded):
            adopt(loaded.configuration)
            reloads += 1
            startAutostartRuns(now: Clock.monotonic())
            for warning in loaded.warnings { Log.warning("configuration: \(warning)") }
            Log.info("configuration reloaded: \(configuration.commands.count) commands")
        case .failure(let failure):
            reloadFailures += 1
            Log.error("configuration rejected, the previous one stays in force:")
            for error in failure.errors { Log.error("  \(error)") }
        }
    }
}
