import CPCP
import PipeCore
import PipeSystem

// Shared runs: started by pipe.control.start (a string metric pmproxy can
// store) or by the agent itself (autostart), read by every permitted client
// context from its own position through pipe.run.records (event records,
// what pmlogger archives) and pipe.run.text (strings, for dashboards).

/// A reader's positions in one shared run.
struct RunCursor {
    var records: UInt64 = 0
    var text: UInt64 = 0
    /// The context has fetched pipe.run.records (pipe.run.text) of this run
    /// before: a gap behind it from now on is a loss (SharedRunOutput.encode).
    var recordsStarted = false
    var textStarted = false
    /// The end record was handed out through pipe.run.records.
    var ended = false
}

extension Agent {
    /// The instance number pmdaFetch passes for a metric without an
    /// instance domain (PM_IN_NULL as a signed number).
    static let singular: Int32 = -1

    // MARK: - Control stores

    /// pipe.control.start[cmd]: start a shared run; the next fetch of the
    /// metric in this context says which, or why not.
    func storeControlStart(context: Int32, instance: Int32, parameterBytes: [UInt8]) -> Int32 {
        let client = clients.context(context)
        switch launch(client: client, instance: instance, parameterBytes: parameterBytes, shared: true) {
        case .success(let run):
            client.replies[.controlStart, default: [:]][instance] = Self.json(["run": run.shared!.name])
            audit.record(.started(run), now: Clock.monotonic())
            return 0
        case .failure(let refusal):
            client.replies[.controlStart, default: [:]][instance] = Self.json(["error": refusal.message])
            return refuse(refusal, client: client, context: context, instance: instance, parameterBytes: parameterBytes)
        }
    }

    /// pipe.control.launch: "COMMAND PARAMETERS", for pmproxy (see the
    /// metric's help: it cannot store a string into one instance).
    func storeControlLaunch(context: Int32, requestBytes: [UInt8]) -> Int32 {
        let client = clients.context(context)
        let text = String(decoding: Self.storedText(requestBytes), as: UTF8.self)
        let (name, parameters) = ConfigText.splitFirstWord(text.trimmingASCIIWhitespace())
        guard let instance = commands.numberByName[name] else {
            client.replies[.controlLaunch, default: [:]][Self.singular] = Self.json([
                "error": "no command is configured as \(name)"
            ])
            return cpcp_ERR_INST
        }
        let status = storeControlStart(context: context, instance: instance, parameterBytes: Array(parameters.utf8))
        client.replies[.controlLaunch, default: [:]][Self.singular] = client.replies[.controlStart]?.removeValue(
            forKey: instance)
        return status
    }

    /// pipe.control.stop: stop the named shared run (its owner or root).
    func storeControlStop(context: Int32, parameterBytes: [UInt8]) -> Int32 {
        let client = clients.context(context)
        let identity = clients.identity(of: client)
        let runName = String(decoding: Self.storedText(parameterBytes), as: UTF8.self).trimmingASCIIWhitespace()
        func reply(_ object: [String: String], _ code: Int32) -> Int32 {
            client.replies[.controlStop, default: [:]][Self.singular] = Self.json(object)
            return code
        }
        // Run names are no secret (the runs instance domain lists them to
        // every client, as PCP instance domains are); what a run printed,
        // its owner and parameters are, and only readers get those.
        guard let run = sharedRuns.values.first(where: { $0.shared?.name == runName }) else {
            return reply(["error": "no shared run is named \(runName)"], cpcp_ERR_INST)
        }
        guard let uid = identity.uid, uid == 0 || uid == run.shared?.ownerUID else {
            return reply(
                ["error": "permission denied: only the user who started \(runName) and root may stop it"],
                cpcp_ERR_PERMISSION)
        }
        // A run that had already ended is still a success (it is stopped),
        // but the one who asked is told it had been over already.
        if run.finished { return reply(["stopped": runName, "already": "finished"], 0) }
        deliver(.stop(.requested("stopped by \(identity.userName ?? "uid \(uid)")")), to: run, now: Clock.monotonic())
        return reply(["stopped": runName], 0)
    }

    /// `{"key":"value"}` with JSON string escaping.
    static func json(_ object: [String: String]) -> String {
        func escaped(_ text: String) -> String {
            var out = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out
        }
        return "{"
            + object.keys.sorted().map { "\"\(escaped($0))\":\"\(escaped(object[$0]!))\"" }
            .joined(separator: ",") + "}"
    }

    // MARK: - Life of shared runs

    /// Starts the autostart runs that are not running (at start-up, after a
    /// reload, and when a restart is due).
    func startAutostartRuns(now: Instant) {
        // An autostart run whose command is no longer configured for it stops.
        for run in sharedRuns.values where run.shared!.autostart {
            guard configuration.command(named: run.name)?.options.autostart != true else { continue }
            restarts.notAutostart(run.name)
            if !run.finished && run.lifecycle.stopReason == nil {
                deliver(
                    .stop(.requested("its command is no longer configured to run automatically")), to: run, now: now)
            }
        }
        for spec in configuration.commands where spec.options.shared && spec.options.autostart {
            let live = sharedRuns.values.contains { $0.name == spec.name && $0.shared!.autostart && !$0.finished }
            if live || !restarts.mayStart(spec.name, now: now) { continue }
            guard let instance = commands.numberByName[spec.name] else { continue }
            switch launch(
                client: nil, instance: instance, parameterBytes: Array(spec.options.autostartParameters.utf8),
                shared: true)
            {
            case .success(let run):
                audit.record(.started(run), now: now)
                restarts.started(spec.name)
            case .failure(let refusal):
                Log.error("autostart of \(spec.name) failed: \(refusal.message)")
                restarts.failedToStart(spec.name, now: now)
            }
        }
    }

    /// A shared run has finished: it stays readable for its retain time;
    /// an autostart run is started again after a backoff (1 s, doubling up
    /// to 60 s, back to 1 s after a run that lasted a minute).
    func sharedRunFinished(_ run: Run) {
        let now = Clock.monotonic()
        run.shared!.retainUntil = now + run.spec.options.retain
        run.shared!.finishedAt = now
        boundRetainedRuns()
        guard run.shared!.autostart, !shuttingDown, run.spec.options.restart,
            let current = configuration.command(named: run.name), current.options.autostart
        else { return }
        restarts.ended(run.name, after: now.since(run.startedAt), now: now)
    }

    /// Culls finished runs past their retain time or beyond the bound on
    /// finished runs, stops runs nobody read for their idle_expiry, starts
    /// due autostart runs.
    func runSharedTimers(now: Instant) {
        for (instance, run) in sharedRuns {
            if let until = run.shared!.retainUntil, now >= until {
                cullSharedRun(instance)
            } else if !run.finished, run.lifecycle.stopReason == nil, let expiry = idleExpiry(of: run),
                now >= run.shared!.lastRead + expiry
            {
                deliver(.stop(.requested("nobody read it for \(expiry.configurationText)")), to: run, now: now)
            }
        }
        boundRetainedRuns()
        if restarts.anyDue(now: now) { startAutostartRuns(now: now) }
    }

    /// Culls the oldest finished runs beyond max_per_user of one owner and
    /// beyond max_running in all ([limits]): each keeps its whole buffer
    /// until culled, and finished runs count in no other limit.
    func boundRetainedRuns() {
        let retained = sharedRuns.compactMap { instance, run in
            run.shared!.finishedAt.map {
                RetainedRun(instance: instance, owner: run.shared!.ownerUID, finishedAt: $0)
            }
        }
        let culls = RetainedRun.toCull(
            retained, maxPerOwner: configuration.limits.maxPerUser, maxOverall: configuration.limits.maxRunning)
        for cull in culls {
            guard let run = sharedRuns[cull.run.instance] else { continue }
            Log.info(
                "shared run \(run.shared!.name) of \(run.shared!.ownerName) culled before its retain time: \(cull.reason)"
            )
            cullSharedRun(cull.run.instance)
        }
    }

    /// Forgets a finished shared run: its instance leaves the runs domain
    /// and every reader's position in it goes.
    func cullSharedRun(_ instance: Int32) {
        sharedRuns[instance] = nil
        runInstances.retire(instance)
        for client in clients.contexts.values { client.runCursors[instance] = nil }
    }

    /// A run nobody reads is stopped after idle_expiry (default 5 minutes
    /// for runs users start; never for autostart runs unless set).
    func idleExpiry(of run: Run) -> Duration? {
        run.spec.options.idleExpiry ?? (run.shared!.autostart ? nil : .seconds(300))
    }

    /// The next shared-run deadline, for poll's timeout.
    var nextSharedDeadline: Instant? {
        var candidates: [Instant] = restarts.nextDue.map { [$0] } ?? []
        for run in sharedRuns.values {
            if let until = run.shared!.retainUntil { candidates.append(until) }
            if !run.finished, let expiry = idleExpiry(of: run) { candidates.append(run.shared!.lastRead + expiry) }
        }
        return candidates.min()
    }

    // MARK: - Reading

    /// The shared run behind a runs-indom instance, if this client may read it.
    func readableRun(_ instance: Int32, for client: ClientContext?) -> Run? {
        guard let client, let run = sharedRuns[instance] else { return nil }
        let identity = clients.identity(of: client)
        guard planner.policy.mayRead(client: identity, instance: run.name, owner: run.shared!.ownerUID).allowed else {
            return nil
        }
        return run
    }

    /// The value of a pipe.run.* metric.
    func sharedValue(_ metric: Metric, instance: Int32, client: ClientContext?) -> MetricValue {
        guard let client, let run = readableRun(instance, for: client) else { return .none }
        let shared = run.shared!
        switch metric {
        case .runRecords: return sharedRecords(run, instance: instance, client: client)
        case .runText:
            var cursor = client.runCursors[instance] ?? RunCursor()
            let (text, next) = run.shared!.output.text(
                from: cursor.text, maxBytes: 64 << 10,
                firstRead: !cursor.textStarted)
            cursor.textStarted = true
            cursor.text = next
            client.runCursors[instance] = cursor
            run.shared!.lastRead = Clock.monotonic()
            return .string(text)
        case .runTail: return .string(shared.output.tail(run.spec.options.tailLines))
        case .runStatus: return .string(Self.status(of: run))
        case .runExitstatus:
            guard let termination = run.lifecycle.termination, run.finished else { return .none }
            return .i32(termination.shellStatus)
        case .runOwner: return .string(shared.ownerName)
        case .runCommand: return .string(run.spec.commandLine)
        case .runParams: return .string(run.plan.parameters.map { LaunchExplanation.quoted($0) }.joined(separator: " "))
        case .runStarted: return .u64(UInt64(max(0, run.startedWall.seconds)))
        case .runLines: return .u64(shared.output.totalRecords)
        case .runBytes: return .u64(shared.output.totalBytes)
        case .runDropped: return .u64(shared.output.dropped)
        default: return .none
        }
    }

    /// running; stopping; stopped (by its owner, root, a limit, nobody
    /// reading it or a reload: `pipe.endreason` says which, whatever the
    /// exit status the stop caused); exited (status 0) or failed (the
    /// command ended by itself with another status or a signal).
    static func status(of run: Run) -> String {
        switch run.lifecycle.phase {
        case .running: return "running"
        case .stopping, .draining: return run.lifecycle.stopReason == nil ? "running" : "stopping"
        case .finished:
            if run.lifecycle.stopReason != nil { return "stopped" }
            return run.lifecycle.termination?.succeeded == true ? "exited" : "failed"
        }
    }

    /// The next batch of a shared run's records for this reader (one
    /// snapshot per PDU, as for private runs).
    private func sharedRecords(_ run: Run, instance: Int32, client: ClientContext) -> MetricValue {
        if let answered = arrays.answer(for: run.id) { return answered.map { .events($0) } ?? .none }
        var cursor = client.runCursors[instance] ?? RunCursor()
        guard !cursor.ended else { return .none }
        let now = Clock.monotonic()
        run.shared!.lastRead = now
        let reason = run.lifecycle.endReason
        var batch = SharedBatch()
        let (records, bytes) = BatchLimits.share((settings.batches.records, settings.batches.bytes), among: copiesInPDU)
        let array = arrays.encode(for: run.id) { writer in
            batch = writer.encode { encoder in
                run.shared!.output.encode(
                    from: cursor.records, into: &encoder, maxRecords: records,
                    maxBytes: bytes, endReason: reason,
                    firstRead: !cursor.recordsStarted)
            }
            return batch.records
        }
        cursor.recordsStarted = true
        cursor.records = batch.next
        cursor.ended = batch.ended
        client.runCursors[instance] = cursor
        return array.map { .events($0) } ?? .none
    }
}
