import CPCP
import PipeCore
import PipeSystem

/// A metric's value for one instance and one client context, before it
/// becomes a pmAtomValue.
enum MetricValue {
    case u32(UInt32)
    case u64(UInt64)
    case i32(Int32)
    /// Copied for libpcp, which frees it after sending (PMDA_FETCH_DYNAMIC).
    case string(String)
    /// An event array that stays unchanged until the PDU is sent
    /// (EventArrayPool).
    case events(UnsafeRawBufferPointer)
    /// No value for this instance (for this client).
    case none
    /// The stream has ended: PM_ERR_NOTCONN, which pmval and pmevent take as
    /// the end.
    case streamEnded
}

/// The pmdaMetric and pmdaIndom tables handed to pmdaInit, built from
/// PipeCore's metric table. libpcp_pmda keeps pointers into both for the life
/// of the agent, so they are allocated once and never freed.
struct MetricTable {
    let metrics: UnsafeMutablePointer<pmdaMetric>
    let metricCount: Int32
    let indoms: UnsafeMutablePointer<pmdaIndom>
    let indomCount: Int32

    static func make() -> MetricTable {
        let all = Metric.allCases
        let metrics = UnsafeMutablePointer<pmdaMetric>.allocate(capacity: all.count)
        for (index, metric) in all.enumerated() {
            var desc = pmDesc()
            desc.pmid = cpcp_pmda_pmid(metric.cluster, metric.item)
            desc.type = metric.type.rawValue
            // Before pmdaInit an indom field holds the serial; pmdaInit makes it a full pmInDom.
            desc.indom = metric.indom?.rawValue ?? cpcp_INDOM_NULL
            desc.sem = metric.semantics.rawValue
            let units = metric.units
            desc.units = cpcp_pmunits(
                units.dimSpace, units.dimTime, units.dimCount,
                units.scaleSpace, units.scaleTime, units.scaleCount)
            (metrics + index).initialize(to: pmdaMetric(m_user: nil, m_desc: desc))
        }
        let serials: [MetricIndom] = [.commands, .runs]
        let indoms = UnsafeMutablePointer<pmdaIndom>.allocate(capacity: serials.count)
        for (index, serial) in serials.enumerated() {
            // No static instance lists: the pmdaCache holds the instances
            // (stable numbers, saved on disk).
            (indoms + index).initialize(to: pmdaIndom(it_indom: serial.rawValue, it_numinst: 0, it_set: nil))
        }
        return MetricTable(
            metrics: metrics, metricCount: Int32(all.count), indoms: indoms,
            indomCount: Int32(serials.count))
    }

    /// The full PMID of a metric (valid after pmdaInit filled in the domain).
    func pmid(of metric: Metric) -> pmID {
        metrics[Metric.allCases.firstIndex(of: metric)!].m_desc.pmid
    }

    /// The full instance domain (valid after pmdaInit).
    func indom(_ serial: MetricIndom) -> pmInDom {
        indoms[serial == .commands ? 0 : 1].it_indom
    }

    /// The event parameters' PMIDs, with the domain pmdaInit settled.
    var eventParameterIDs: EventParameterIDs {
        EventParameterIDs(
            line: pmid(of: .line), errline: pmid(of: .errline), rawline: pmid(of: .rawline),
            rawerrline: pmid(of: .rawerrline), continued: pmid(of: .continued), noeol: pmid(of: .noeol),
            exitstatus: pmid(of: .exitstatus), endreason: pmid(of: .endreason))
    }
}

extension Agent {
    /// The value of one metric instance for the calling client context: the
    /// value half of PipeCore's metric table, one case per metric.
    func value(of metric: Metric, instance: Int32, context: Int32) -> MetricValue {
        let client = clients.existing(context)
        let name = metric.indom == .commands ? commands.nameByNumber[instance] : nil
        if metric.indom == .commands && name == nil { return .none }
        switch metric {
        case .numclients: return .u32(UInt32(clients.count))
        case .maxmemory: return .u64(UInt64(settings.defaultQueueCapacity))
        case .commands:
            guard let spec = configuration.command(named: name!), mayRun(client, name!) else { return .none }
            return .string(spec.commandLine)
        case .paramtypes:
            guard let spec = configuration.command(named: name!), mayRun(client, name!) else { return .none }
            return .string(Self.parameterTypes(of: spec))
        case .line, .errline, .rawline, .rawerrline, .continued, .exitstatus, .endreason, .noeol:
            return .none
        case .firehose:
            guard let client else { return .none }
            return records(for: client, instance: instance)
        case .queueMemused, .queueCount, .queueBytes, .queueNumclients:
            guard let run = client?.activeRun(instance) else { return .none }
            let queue = run.output.queue
            switch metric {
            case .queueMemused: return .u64(UInt64(queue.memoryUsed))
            case .queueCount: return .u32(UInt32(truncatingIfNeeded: queue.totalRecords))
            case .queueBytes: return .u64(queue.totalBytes)
            default: return .u32(run.detached ? 0 : 1)
            }
        case .laststatus:
            guard let status = client?.lastStatus[instance] else { return .none }
            return .i32(status.shellStatus)
        case .lasterror:
            guard let message = client?.lastError[instance] else { return .none }
            return .string(message)
        case .runsActive: return .u32(UInt32(admission.running(instance: name!)))
        case .runsStarted, .runsFailed, .runsRefused, .runsLines, .runsBytes, .runsDropped:
            return .u64(total(metric, of: name!))
        case .runsExitstatus:
            guard let status = counters[name!]?.lastStatus else { return .none }
            return .i32(status)
        case .configReloads: return .u32(reloads)
        case .configFailures: return .u32(reloadFailures)
        case .controlStart, .controlStop, .controlExplain, .controlLaunch:
            // Empty until a store leaves an answer, so that pmstore (which
            // fetches a metric before storing into it) accepts them.
            return .string(client?.replies[metric]?.removeValue(forKey: instance) ?? "")
        case .runRecords, .runText, .runTail, .runStatus, .runExitstatus, .runOwner, .runCommand, .runParams,
            .runStarted, .runLines, .runBytes, .runDropped:
            return sharedValue(metric, instance: instance, client: client)
        }
    }

    /// Whether the client may run the command (root sees everything), for
    /// the metrics that describe commands.
    private func mayRun(_ client: ClientContext?, _ name: String) -> Bool {
        guard let client else { return false }
        let identity = clients.identity(of: client)
        if identity.uid == 0 { return true }
        return planner.policy.decide(client: identity, instance: name).allowed
    }

    /// `$1 integer 1..60` per placeholder, one line each.
    static func parameterTypes(of spec: CommandSpec) -> String {
        let template = spec.template
        var lines: [String] = []
        for number in stride(from: 1, through: template.highestParameter, by: 1) {
            lines.append("$\(number) \(spec.options.parameterType(number).text)")
        }
        if template.usesAllParameters {
            let extra = spec.options.parameterTypes.keys.filter { $0 > template.highestParameter }.sorted()
            for number in extra { lines.append("$\(number) \(spec.options.parameterType(number).text)") }
            lines.append("$0 all parameters; any other is alnum")
        }
        return lines.joined(separator: "\n")
    }

    /// Finished runs' totals plus what the command's live runs have read so far.
    private func total(_ metric: Metric, of name: String) -> UInt64 {
        let done = counters[name] ?? CommandCounters()
        let live = runs.values.filter { $0.name == name && !$0.finished }
        switch metric {
        case .runsStarted: return done.started
        case .runsFailed: return done.failed
        case .runsRefused: return done.refused
        case .runsLines: return done.lines + live.reduce(0) { $0 + $1.totals.lines }
        case .runsBytes: return done.bytes + live.reduce(0) { $0 + $1.totals.bytes }
        case .runsDropped: return done.dropped + live.reduce(0) { $0 + $1.totals.dropped }
        default: return 0
        }
    }
}
