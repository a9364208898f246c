import ArgumentParser
import CPCP
import PipeCore
import PipeSystem

/// The agent's entry point (called by the pmdapipe executable).
public enum PipeAgentMain {
    public static func run(arguments: [String]) -> Int32 {
        let options: AgentOptions
        do {
            options = try AgentOptions.parse(Array(arguments.dropFirst()))
        } catch {
            let code = AgentOptions.exitCode(for: error)
            if code == .success {
                print(AgentOptions.helpMessage())
                return 0
            }
            FileDescriptor.standardError.writeAll(
                "pmdapipe: \(AgentOptions.message(for: error))\n\n\(AgentOptions.helpMessage())\n")
            return 1
        }
        let loader = ConfigurationLoader(explicitFile: options.config)
        if options.check { return check(loader) }

        // libpcp keeps these strings for the life of the agent (log prefix,
        // log name, help file): they must never move or be freed.
        pmSetProgname(strdup(arguments.first ?? "pmdapipe"))
        let dispatch = UnsafeMutablePointer<pmdaInterface>.allocate(capacity: 1)
        dispatch.initialize(to: pmdaInterface())
        let helpPath = strdup(String(cString: pmGetConfig("PCP_PMDAS_DIR")) + "/pipe/help")
        let logPath = strdup(options.log)
        pmdaDaemon(dispatch, PMDA_INTERFACE_6, strdup("pipe"), options.domain, logPath, helpPath)
        if let debug = options.debug, pmSetDebug(debug) < 0 {
            FileDescriptor.standardError.writeAll("pmdapipe: unrecognized debug options '\(debug)'\n")
        }
        // pmOpenLog(3) removes an existing log: the previous agent's goes to
        // pipe.log.prev first, as at a rotation, so that a restart (after a
        // crash, say) does not erase the audit trail of what led to it.
        if let logPath { cpcp_keep_previous_log(logPath) }
        pmdaOpenLog(dispatch)
        Log.opened(path: logPath)

        // Signals arrive through a signalfd: block them before any thread
        // (the pin worker) exists, so that every one reaches this thread.
        let signals: SignalFD
        do {
            signals = try SignalFD(signals: [Signal.childExited, .hangup, .terminate, .interrupt].map(\.rawValue))
            try Signals.ignore(Signal.pipe.rawValue)
        } catch {
            Log.error("cannot set up signal handling: \(error)")
            return 1
        }
        do { try Reaper.becomeSubreaper() } catch {
            Log.warning("cannot become a child subreaper, orphans of commands go to init: \(error)")
        }

        pmdaSetCommFlags(dispatch, PMDA_FLAG_AUTHORIZE)
        dispatch.pointee.version.six.fetch = fetchTrampoline
        dispatch.pointee.version.six.store = storeTrampoline
        dispatch.pointee.version.six.attribute = attributeTrampoline
        pmdaSetFetchCallBack(dispatch, fetchValueCallback)
        pmdaSetEndContextCallBack(dispatch, endContextCallback)

        let table = MetricTable.make()
        pmdaInit(dispatch, table.indoms, table.indomCount, table.metrics, table.metricCount)
        guard dispatch.pointee.status == 0 else {
            Log.error("pmdaInit failed: \(String(cString: pmErrStr(dispatch.pointee.status)))")
            return 1
        }
        // pmcd waits only a few seconds for the initial exchange: connect
        // first, then read the configuration (which never hashes programs
        // on this thread).
        pmdaConnect(dispatch)
        guard dispatch.pointee.status == 0 else {
            Log.error("cannot connect to pmcd: \(String(cString: pmErrStr(dispatch.pointee.status)))")
            return 1
        }

        var configuration = Configuration.empty
        var failedAtStart = false
        switch loader.load(strict: false, skipBadFiles: true) {
        case .success(let loaded):
            configuration = loaded.configuration
            if !loaded.refusedFiles.isEmpty {
                failedAtStart = true
                for line in loaded.refusedFiles { Log.error("configuration: \(line)") }
            }
            for warning in loaded.warnings { Log.warning("configuration: \(warning)") }
        case .failure(let failure):
            // Start anyway, with nothing runnable: the metrics stay visible,
            // the errors are logged, and SIGHUP picks up a fixed configuration.
            failedAtStart = true
            Log.error("configuration rejected, no command can be run until it is fixed:")
            for error in failure.errors { Log.error("  \(error)") }
        }

        let pins: PinnedExecutables
        do { pins = try PinnedExecutables() } catch {
            Log.error("cannot set up pin checking: \(error)")
            return 1
        }
        // Blocks past 8 MiB (queue arenas of commands with a large max_line)
        // get mappings of their own, unmapped when freed: with glibc's
        // dynamic threshold, the first such block freed would send the next
        // ones to the heap, where freed arenas stay resident between runs.
        // Default 2 MiB queues stay on the heap, reused from fetch to fetch.
        Memory.keepFreedHeapMapped(mmapThreshold: 8 << 20, trimThreshold: 8 << 20)
        var settings = AgentSettings()
        settings.defaultQueueCapacity = options.maxMemory
        let agent = Agent(settings: settings, table: table, loader: loader, configuration: configuration, pins: pins)
        if failedAtStart { agent.reloadFailures = 1 }
        currentAgent = agent
        Log.info(
            "pipe agent ready: \(configuration.commands.count) commands, \(settings.defaultQueueCapacity) bytes "
                + "per client queue, runs tracked by \(agent.cgroups.canTrack ? "cgroup" : "process group")")
        let dropped = Memory.dropStartupPages()
        Log.info("released \(dropped >> 10) kB of start-up code mappings")
        agent.serve(dispatch: dispatch, signals: signals)
        currentAgent = nil
        return 0
    }

    /// -C: validate everything that can be checked, report on stderr, exit 0 or 1.
    private static func check(_ loader: ConfigurationLoader) -> Int32 {
        switch loader.load(strict: true) {
        case .success(let loaded):
            for warning in loaded.warnings { FileDescriptor.standardError.writeAll("pmdapipe: warning: \(warning)\n") }
            let commands = loaded.configuration.commands.count
            let rules = loaded.configuration.rules.count
            print(
                "pmdapipe: configuration OK: \(commands) command\(commands == 1 ? "" : "s"), "
                    + "\(rules) access rule\(rules == 1 ? "" : "s")")
            return 0
        case .failure(let failure):
            for warning in failure.warnings { FileDescriptor.standardError.writeAll("pmdapipe: warning: \(warning)\n") }
            for error in failure.errors { FileDescriptor.standardError.writeAll("pmdapipe: \(error)\n") }
            return 1
        }
    }
}
