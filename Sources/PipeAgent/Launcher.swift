import PipeCore
import PipeSystem

extension Agent {
    /// Decides a request (LaunchPlanner) and carries out the plan: opens and
    /// checks the program, makes the run's cgroups, spawns the command.
    /// `client` nil: the agent itself starts an autostart run.
    func launch(client: ClientContext?, instance: Int32, parameterBytes: [UInt8], shared: Bool = false)
        -> Result<Run, LaunchRefusal>
    {
        guard let name = commands.nameByNumber[instance] else { return .failure(.unknownInstance("#\(instance)")) }
        let identity = client.map { clients.identity(of: $0) } ?? Self.autostartIdentity
        var context =
            client.map { launchContext(for: $0) }
            ?? LaunchContext(admission: admission, shuttingDown: shuttingDown)
        if shared { context.activeInstances = [] }
        let plan: LaunchPlan
        switch planner.plan(
            instance: name, parameterBytes: parameterBytes, client: identity,
            context: context, facts: facts)
        {
        case .success(let decided): plan = decided
        case .failure(let refusal): return .failure(refusal)
        }
        if shared && !plan.spec.options.shared {
            return .failure(.cannotRun("\(name) is not configured for shared runs (shared = yes)"))
        }
        do {
            let run = try start(plan, client: client, identity: identity, instance: instance, shared: shared)
            return .success(run)
        } catch {
            return .failure(error)
        }
    }

    /// Who an autostart run belongs to: the agent, as root.
    static let autostartIdentity = ClientIdentity(
        uid: 0, gid: 0, userName: "pmdapipe (autostart)",
        groupNames: ["root"], groupIDs: [0], authentication: .unixSocket(pid: nil))

    private func start(
        _ plan: LaunchPlan, client: ClientContext?, identity: ClientIdentity,
        instance: Int32, shared: Bool
    ) throws(LaunchRefusal) -> Run {
        let spec = plan.spec
        let options = spec.options
        let privileged = plan.account.uid == 0 || options.capabilities?.isEmpty == false

        // The program: opened once, checked (owner, pin) and executed
        // through this very descriptor.
        var executable: ExecutableFile?
        if !plan.invocation.usesShell {
            switch pins.open(plan.invocation.program, pin: options.sha256, requireTrusted: privileged) {
            case .success(let file): executable = file
            case .failure(.verifying(let path, let bytes)):
                throw .tryAgain(ExecutableRefusal.verifying(path: path, bytes: bytes).description)
            case .failure(let refusal): throw .cannotRun(refusal.description)
            }
        }

        // Every process of the run, in a cgroup where the machine allows.
        let limits = RunResourceLimits(
            memoryBytes: options.memoryLimit?.bytes, tasks: options.taskLimit,
            cpuPercent: options.cpuPercent)
        if !limits.isEmpty, let problem = cgroups.unsupported(limits) { throw .cannotRun(problem) }
        let id = nextRunID
        let processes: any RunProcessSet
        if cgroups.canTrack {
            do {
                processes = try CgroupProcessSet(name: "run-\(id)", layout: cgroups, limits: limits)
            } catch {
                if !limits.isEmpty { throw .cannotRun("cannot create the run's cgroup for its limits: \(error)") }
                if !cgroupWarningLogged {
                    cgroupWarningLogged = true
                    Log.warning("cannot create runs' cgroups (\(error)): tracking processes by process group")
                }
                processes = DescendantProcessSet()
            }
        } else {
            processes = DescendantProcessSet()
        }

        var request = SpawnRequest(
            executablePath: plan.invocation.program, arguments: plan.invocation.arguments,
            environment: plan.environment, userID: plan.account.uid, groupID: plan.account.gid,
            supplementaryGroups: plan.account.groups)
        request.capabilities = options.capabilities?.map(\.number)
        request.noNewPrivileges = options.noNewPrivileges
        request.executable = executable?.descriptor
        request.executableIsScript = executable?.isScript ?? false
        request.cgroupProcs = processes.procsFiles
        let process: SpawnedProcess
        do {
            process = try Spawner.spawn(request)
        } catch {
            processes.release()
            throw .startFailed(reason: "cannot start the command: \(error)", errno: error.errno)
        }
        processes.spawned(pid: process.pid)
        nextRunID += 1

        let now = Clock.monotonic()
        var output: RunOutput?
        var sharedRun: SharedRun?
        if shared {
            let (runName, runInstance) = runInstances.add(command: spec.name)
            sharedRun = SharedRun(
                name: runName, instance: runInstance,
                output: SharedRunOutput(
                    capacity: options.buffer?.bytes ?? 4 << 20,
                    maxLineLength: options.maxLineLength, format: eventFormat),
                ownerName: identity.userName ?? identity.uid.map { "uid \($0)" } ?? "?",
                ownerUID: client == nil ? nil : identity.uid, autostart: client == nil, lastRead: now)
        } else {
            output = RunOutput(
                queueCapacity: queueCapacity(of: spec), policy: options.overflow,
                maxLineLength: options.maxLineLength, format: eventFormat)
        }
        // A shared run never waits on a reader, so it has no idle limit
        // (idle_expiry, checked by the agent, stops one nobody reads).
        let lifecycle = RunLifecycle.Settings(
            timeLimit: options.timeLimit, grace: options.killGrace,
            idleLimit: shared ? nil : options.idleTimeout ?? .seconds(Int64(configuration.limits.idleTimeoutSeconds)))
        let run = Run(
            id: id, context: client?.id ?? -1, instance: instance, plan: plan, client: identity,
            process: process, processes: processes, output: output, shared: sharedRun,
            settings: lifecycle, now: now, wall: Clock.now())
        runs[run.id] = run
        runByPID[run.pid] = run
        if let uid = identity.uid { admission.started(instance: spec.name, uid: uid) }
        counters[spec.name, default: CommandCounters()].started += 1
        if let sharedRun {
            sharedRuns[sharedRun.instance] = run
        } else {
            client?.streams[instance] = .active(run)
        }
        idleTrimAt = nil
        return run
    }

    /// The bytes a run's queue may hold: the command's `queue`, else the
    /// agent's -m, and never less than two of its longest pieces (a blocked
    /// command must always be able to make progress, and the line being
    /// assembled counts toward the queue).
    func queueCapacity(of spec: CommandSpec) -> Int {
        let configured = spec.options.queueCapacity?.bytes ?? settings.defaultQueueCapacity
        return max(configured, 2 * spec.options.maxLineLength + 4096)
    }
}
