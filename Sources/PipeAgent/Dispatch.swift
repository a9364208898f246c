import CPCP
import Glibc
import PipeCore
import PipeSystem

// MARK: - The C boundary
//
// libpcp_pmda calls these non-capturing functions from __pmdaMainPDU. Each
// one finds the agent, converts C values to Swift ones, calls Swift and
// returns a PCP code. Everything runs on the main thread.

/// The one agent of this process (C callbacks cannot capture it).
nonisolated(unsafe) private var current: Agent?

/// pmcd's fetch: note the client, then let pmdaFetch walk metrics and instances.
private let fetchTrampoline: @convention(c) (
    Int32, UnsafeMutablePointer<pmID>?, UnsafeMutablePointer<UnsafeMutablePointer<pmResult>?>?,
    UnsafeMutablePointer<pmdaExt>?
) -> Int32 = { count, pmidList, result, ext in
    guard let agent = current else { return pmdaFetch(count, pmidList, result, ext) }
    if let ext { _ = agent.client(ext.pointee.e_context) }
    agent.streamsEndedThisFetch = false
    let status = pmdaFetch(count, pmidList, result, ext)
    if status >= 0, agent.streamsEndedThisFetch, let resultPointer = result?.pointee {
        // pmdaFetch logs every negative callback status as an error, so an
        // ended stream answers "no values" there and becomes PM_ERR_NOTCONN
        // here, where pmval and pmevent look for it.
        let firehose = agent.table.pmid(of: .firehose)
        for index in 0..<Int(resultPointer.pointee.numpmid) {
            guard let valueSet = cpcp_result_valueset(resultPointer, Int32(index)),
                  valueSet.pointee.pmid == firehose, valueSet.pointee.numval == 0 else { continue }
            valueSet.pointee.numval = cpcp_ERR_NOTCONN
        }
    }
    return status
}

/// pmdaFetch's per-value callback.
private let fetchValueCallback: @convention(c) (
    UnsafeMutablePointer<pmdaMetric>?, UInt32, UnsafeMutablePointer<pmAtomValue>?
) -> Int32 = { metricPointer, instance, atom in
    guard let agent = current, let metricPointer, let atom else { return cpcp_ERR_GENERIC }
    let pmid = metricPointer.pointee.m_desc.pmid
    guard let metric = Metric.lookup(cluster: pmID_cluster(pmid), item: pmID_item(pmid)) else {
        return cpcp_ERR_PMID
    }
    return agent.fetch(metric: metric, instance: instance, context: pmdaGetContext(), atom: atom)
}

/// pmStore into pipe.firehose[instance]: one string value, the parameters.
private let storeTrampoline: @convention(c) (
    UnsafeMutablePointer<pmResult>?, UnsafeMutablePointer<pmdaExt>?
) -> Int32 = { result, ext in
    guard let agent = current, let result, let ext else { return cpcp_ERR_GENERIC }
    let context = ext.pointee.e_context
    for index in 0..<Int(result.pointee.numpmid) {
        guard let valueSet = cpcp_result_valueset(result, Int32(index)) else { return cpcp_ERR_BADSTORE }
        let pmid = valueSet.pointee.pmid
        // Only the firehose takes stores; everything else is read-only (as in PCP's agent).
        guard Metric.lookup(cluster: pmID_cluster(pmid), item: pmID_item(pmid)) == .firehose else {
            return cpcp_ERR_PERMISSION
        }
        guard valueSet.pointee.numval == 1 else { return cpcp_ERR_BADSTORE }
        guard valueSet.pointee.valfmt == PM_VAL_DPTR || valueSet.pointee.valfmt == PM_VAL_SPTR else {
            return cpcp_ERR_BADSTORE
        }
        let value = cpcp_valueset_value(valueSet, 0)!
        guard let block = value.pointee.value.pval else { return cpcp_ERR_BADSTORE }
        let length = Int(cpcp_valueblock_vlen(block)) - Int(PM_VAL_HDR_SIZE)
        guard length >= 0 else { return cpcp_ERR_BADSTORE }
        let bytes = [UInt8](UnsafeRawBufferPointer(start: cpcp_valueblock_bytes(block), count: length))
        let status = agent.store(context: context, instance: value.pointee.inst, parameterBytes: bytes)
        if status < 0 { return status }
    }
    return 0
}

/// Client credentials, sent by pmcd once per context (needs PMDA_FLAG_AUTHORIZE).
private let attributeTrampoline: @convention(c) (
    Int32, Int32, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<pmdaExt>?
) -> Int32 = { context, attribute, value, length, ext in
    let status = pmdaAttribute(context, attribute, value, length, ext)
    guard status >= 0 else { return status }
    if let value, length > 0 {
        let raw = UnsafeRawBufferPointer(start: value, count: Int(length))
        let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        current?.attribute(context: context, attribute: attribute, value: text)
    }
    return 0
}

/// A client context closed: stop whatever it started.
private let endContextCallback: @convention(c) (Int32) -> Void = { context in
    current?.endContext(context)
}

// MARK: - Main loop

extension Agent {
    /// Serves pmcd until it goes away or we are told to stop. Sleeps in poll(2)
    /// on pmcd's pipe, a signalfd, the output pipes of runs whose client has
    /// room, and the nearest timer: an idle agent never wakes up.
    func serve(dispatch: UnsafeMutablePointer<pmdaInterface>) {
        let pmcd = FileDescriptor(rawValue: __pmdaInFd(dispatch))
        guard pmcd.rawValue >= 0 else {
            Log.error("no connection to pmcd")
            return
        }
        let signals: SignalFD
        do {
            signals = try SignalFD(signals: [SIGCHLD, SIGHUP, SIGTERM, SIGINT])
        } catch {
            Log.error("cannot set up signal handling: \(error)")
            return
        }
        do { try Reaper.becomeSubreaper() } catch {
            Log.warning("cannot become a child subreaper, orphans of commands go to init: \(error)")
        }
        signal(SIGPIPE, SIG_IGN)

        let pmcdToken = -1
        let signalToken = -2
        var watched: [(run: Run, stream: StreamKind)] = []
        while true {
            var poll = PollSet()
            poll.add(pmcd, token: pmcdToken)
            poll.add(signals.descriptor, token: signalToken)
            watched.removeAll(keepingCapacity: true)
            for run in runs.values where !run.detached && run.output.wantsInput {
                if let fd = run.stdout {
                    poll.add(fd, token: watched.count)
                    watched.append((run, .stdout))
                }
                if let fd = run.stderr {
                    poll.add(fd, token: watched.count)
                    watched.append((run, .stderr))
                }
            }
            let ready: [Int]
            do {
                ready = try poll.wait(timeoutMilliseconds: pollTimeout())
            } catch {
                Log.error("poll failed: \(error)")
                shutdown(signals: signals)
                return
            }
            // Output first, so that a fetch in this same turn sees the newest lines.
            for token in ready where token >= 0 {
                readOutput(watched[token].run, watched[token].stream)
            }
            if ready.contains(signalToken) {
                for received in signals.drain() {
                    switch received {
                    case SIGCHLD:
                        reapChildren()
                    case SIGHUP:
                        reload()
                    default:
                        Log.info("signal \(received): stopping all commands and exiting")
                        shutdown(signals: signals)
                        return
                    }
                }
            }
            runTimers()
            if ready.contains(pmcdToken) {
                if __pmdaMainPDU(dispatch) < 0 {
                    Log.info("pmcd closed the connection: stopping all commands and exiting")
                    shutdown(signals: signals)
                    return
                }
                recycleArrays()
                if runs.isEmpty && idleTrimAt == nil {
                    idleTrimAt = Clock.monotonicNanoseconds() + 2_000_000_000
                }
            }
        }
    }
}

// MARK: - Start-up

/// The agent's entry point (called by the pmdapipe executable).
public enum PipeAgentMain {
    public static func run(arguments: [String]) -> Int32 {
        let options: AgentOptions
        do {
            options = try AgentOptions.parse(Array(arguments.dropFirst()))
        } catch {
            writeStandardError("pmdapipe: \(error)\n\n\(AgentOptions.usage)")
            return 1
        }
        if options.showHelp {
            print(AgentOptions.usage, terminator: "")
            return 0
        }
        let loader = ConfigurationLoader(explicitFile: options.configFile)
        if options.checkOnly {
            return check(loader)
        }

        // libpcp keeps this pointer for its log prefix: it must outlive us.
        pmSetProgname(strdup(arguments.first ?? "pmdapipe"))
        let dispatch = UnsafeMutablePointer<pmdaInterface>.allocate(capacity: 1)
        dispatch.initialize(to: pmdaInterface())
        // libpcp_pmda keeps these strings: they must never move or be freed.
        let helpPath = strdup(String(cString: pmGetConfig("PCP_PMDAS_DIR")) + "/pipe/help")
        pmdaDaemon(dispatch, PMDA_INTERFACE_6, strdup("pipe"), options.domain, strdup(options.logFile), helpPath)
        if let debug = options.debug {
            let status = pmSetDebug(debug)
            if status < 0 { writeStandardError("pmdapipe: unrecognized debug options '\(debug)'\n") }
        }
        pmdaOpenLog(dispatch)

        var configuration = Configuration.empty
        var failedAtStart = false
        switch loader.load(strict: false, skipBadFiles: true) {
        case .success(let loaded):
            configuration = loaded.configuration
            if !loaded.refusedFiles.isEmpty {
                // Loudly: some commands the sysadmin configured cannot run.
                failedAtStart = true
                for line in loaded.refusedFiles { Log.error("configuration: \(line)") }
            }
            for warning in loaded.warnings { Log.warning("configuration: \(warning)") }
        case .failure(let failure):
            // Start anyway, with nothing runnable: the metrics stay visible, the
            // errors are logged, and SIGHUP picks up a fixed configuration.
            failedAtStart = true
            Log.error("configuration rejected, no command can be run until it is fixed:")
            for error in failure.errors { Log.error("  \(error)") }
        }

        pmdaSetCommFlags(dispatch, PMDA_FLAG_AUTHORIZE)
        dispatch.pointee.version.six.fetch = fetchTrampoline
        dispatch.pointee.version.six.store = storeTrampoline
        dispatch.pointee.version.six.attribute = attributeTrampoline
        pmdaSetFetchCallBack(dispatch, fetchValueCallback)
        pmdaSetEndContextCallBack(dispatch, endContextCallback)

        let table = MetricTable.make()
        pmdaInit(dispatch, table.indoms, 1, table.metrics, table.metricCount)
        guard dispatch.pointee.status == 0 else {
            Log.error("pmdaInit failed: \(String(cString: pmErrStr(dispatch.pointee.status)))")
            return 1
        }

        var settings = AgentSettings()
        settings.defaultQueueCapacity = options.maxMemory
        let agent = Agent(settings: settings, table: table, loader: loader, configuration: configuration)
        if failedAtStart { agent.reloadFailures = 1 }
        current = agent
        Log.info("pipe agent ready: \(configuration.commands.count) commands, \(settings.defaultQueueCapacity) bytes per client queue")

        pmdaConnect(dispatch)
        guard dispatch.pointee.status == 0 else {
            Log.error("cannot connect to pmcd: \(String(cString: pmErrStr(dispatch.pointee.status)))")
            return 1
        }
        let dropped = Memory.dropStartupPages()
        Log.info("released \(dropped >> 10) kB of start-up code mappings")
        agent.serve(dispatch: dispatch)
        current = nil
        return 0
    }

    /// -C: validate everything that can be checked, report on stderr, exit 0 or 1.
    private static func check(_ loader: ConfigurationLoader) -> Int32 {
        switch loader.load(strict: true) {
        case .success(let loaded):
            for warning in loaded.warnings { writeStandardError("pmdapipe: warning: \(warning)\n") }
            print("pmdapipe: configuration OK: \(loaded.configuration.commands.count) commands, \(loaded.configuration.rules.count) access rules")
            return 0
        case .failure(let failure):
            for error in failure.errors { writeStandardError("pmdapipe: \(error)\n") }
            return 1
        }
    }
}

func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}
