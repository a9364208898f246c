import PipeCore
import PipeSystem

extension Agent {
    /// Tells a run's lifecycle what happened and carries out what it answers.
    func deliver(_ event: RunEvent, to run: Run, now: Instant) {
        for action in run.lifecycle.advance(now: now, event: event) {
            switch action {
            case .signalAll(let signal):
                run.processes.signal(signal.rawValue)
            case .killAll:
                run.processes.kill()
                Log.info("\(run.name) pid \(run.pid): SIGKILL to every process of the run (\(run.processes.kind))")
            case .closePipes:
                closeStream(run, .stdout, flush: !run.detached)
                closeStream(run, .stderr, flush: !run.detached)
            case .finish:
                finish(run)
            }
        }
    }

    /// SIGCHLD: reap every exited child, ours or orphans re-parented to us
    /// (the agent is a child subreaper), then see which runs have no process
    /// left: every process of a run is a descendant of the agent, so each of
    /// their deaths brings a SIGCHLD.
    func reapChildren() {
        let now = Clock.monotonic()
        for (pid, termination) in Reaper.reapAll() {
            guard let run = runByPID.removeValue(forKey: pid) else { continue }
            if run.processes.isEmpty { deliver(.processesGone, to: run, now: now) }
            deliver(.mainExited(termination), to: run, now: now)
        }
        checkProcessesGone(now: now)
    }

    /// Runs whose first process is gone or that are being stopped learn
    /// when their last process is gone.
    func checkProcessesGone(now: Instant) {
        for run in Array(runs.values)
        where !run.finished && !run.lifecycle.processesGone
            && (run.lifecycle.phase != .running) && run.processes.isEmpty
        {
            deliver(.processesGone, to: run, now: now)
        }
    }

    /// Deadlines: time limits, idle limits, SIGKILL after grace, force-close.
    func runTimers(now: Instant) {
        for run in Array(runs.values) {
            if let at = run.lifecycle.nextDeadline, now >= at { deliver(.tick, to: run, now: now) }
        }
        runSharedTimers(now: now)
        audit.flush(now: now)
        trimIfIdle(now: now)
    }

    /// The earliest deadline of any run (or of the audit log, or the idle
    /// trim), for poll's timeout: an idle agent does not wake up.
    func nextDeadline() -> Instant? {
        var candidates = runs.values.compactMap(\.lifecycle.nextDeadline)
        if let at = audit.nextDeadline { candidates.append(at) }
        if let at = idleTrimAt { candidates.append(at) }
        if let at = nextSharedDeadline { candidates.append(at) }
        // Without cgroups, descendants are found by looking at /proc: look
        // twice a second while a run waits for its last processes.
        if runs.values.contains(where: {
            !$0.finished && $0.lifecycle.phase != .running
                && $0.processes is DescendantProcessSet
        }) {
            candidates.append(Clock.monotonic() + .milliseconds(500))
        }
        return candidates.min()
    }

    /// The run is over: its end record is queued for its client, its slot
    /// given back, its cgroups removed, and the audit trail says how it ended.
    private func finish(_ run: Run) {
        let termination = run.lifecycle.termination ?? .signaled(signal: Signal.kill.rawValue)
        if !run.detached || run.shared != nil {
            run.finishOutput(termination, at: Clock.now())
        }
        run.closePipes()
        run.processes.release()
        runByPID[run.pid] = nil
        if let uid = run.client.uid { admission.ended(instance: run.name, uid: uid) }
        var totals = counters[run.name, default: CommandCounters()]
        let counts = run.totals
        totals.lines += counts.lines
        totals.bytes += counts.bytes
        totals.dropped += counts.dropped
        if !termination.succeeded || run.lifecycle.stopReason != nil { totals.failed += 1 }
        totals.lastStatus = termination.shellStatus
        counters[run.name] = totals
        clients.existing(run.context)?.lastStatus[run.instance] = termination
        audit.record(.ended(run), now: Clock.monotonic())
        if run.shared != nil { sharedRunFinished(run) }
        retireIfDone(run)
    }

    /// Drops a run from supervision once nothing about it can change: it is
    /// finished, and its end record was handed out or nobody will ask.
    func retireIfDone(_ run: Run) {
        guard run.finished, run.shared != nil || run.detached || run.output.phase == .delivered else { return }
        runs[run.id] = nil
        if !configuration.commands.contains(where: { $0.name == run.name }) { refreshInstances() }
        if runs.isEmpty { idleTrimAt = Clock.monotonic() + .seconds(2) }
    }

    /// Once idle for a moment, hand back what a burst left behind: freed
    /// queue memory, pooled event arrays, and the code pages faulted in.
    private func trimIfIdle(now: Instant) {
        guard let at = idleTrimAt, now >= at else { return }
        idleTrimAt = nil
        guard runs.isEmpty else { return }
        arrays.releaseIdle()
        Memory.releaseFreePages()
        Memory.dropStartupPages()
    }

    // MARK: - Shutdown

    /// pmcd went away or asked us to stop: stop every run, give them their
    /// grace period (at most 5 s in all), then kill what is left and reap.
    func shutdown(signals: SignalFD) {
        shuttingDown = true
        var now = Clock.monotonic()
        for run in Array(runs.values) {
            run.detached = true
            deliver(.stop(.agentShutdown), to: run, now: now)
        }
        let deadline = now + .seconds(5)
        while runs.values.contains(where: { !$0.finished }), now < deadline {
            var poll = PollSet()
            poll.add(signals.descriptor, token: 0)
            _ = try? poll.wait(timeoutMilliseconds: 50)
            _ = signals.drain()
            reapChildren()
            now = Clock.monotonic()
            runTimers(now: now)
            checkProcessesGone(now: now)
        }
        for run in runs.values where !run.finished {
            run.processes.kill()
            run.processes.release()
        }
        for _ in 0..<20 {
            _ = Reaper.reapAll()
            if runs.values.allSatisfy({ $0.processes.isEmpty }) { break }
            _ = Clock.sleep(for: .milliseconds(50))
        }
    }
}
