import CPCP

/// Every metric the agent exports. Cluster 0 mirrors PCP's C pipe agent item
/// for item (same PMIDs, types and semantics), so existing tools and archives
/// keep working; clusters 1-3 are this agent's additions. The names live in
/// pmdas/pipe/pmns and the help text in pmdas/pipe/help.
enum Metric: CaseIterable {
    case numclients, maxmemory, commands, line, firehose
    case queueMemused, queueCount, queueBytes, queueNumclients
    case errline, rawline, rawerrline, continued, exitstatus, endreason, lasterror, laststatus
    case runsActive, runsStarted, runsFailed, runsRefused, runsLines, runsBytes, runsDropped, runsExitstatus
    case configReloads, configFailures

    var cluster: UInt32 {
        switch self {
        case .numclients, .maxmemory, .commands, .line, .firehose,
             .queueMemused, .queueCount, .queueBytes, .queueNumclients: return 0
        case .errline, .rawline, .rawerrline, .continued, .exitstatus, .endreason, .lasterror, .laststatus: return 1
        case .runsActive, .runsStarted, .runsFailed, .runsRefused,
             .runsLines, .runsBytes, .runsDropped, .runsExitstatus: return 2
        case .configReloads, .configFailures: return 3
        }
    }

    var item: UInt32 {
        switch self {
        case .numclients, .errline, .runsActive, .configReloads: return 0
        case .maxmemory, .rawline, .runsStarted, .configFailures: return 1
        case .commands, .rawerrline, .runsFailed: return 2
        case .line, .continued, .runsRefused: return 3
        case .firehose, .exitstatus, .runsLines: return 4
        case .queueMemused, .endreason, .runsBytes: return 5
        case .queueCount, .lasterror, .runsDropped: return 6
        case .queueBytes, .runsExitstatus, .laststatus: return 7
        case .queueNumclients: return 8
        }
    }

    static func lookup(cluster: UInt32, item: UInt32) -> Metric? {
        allCases.first { $0.cluster == cluster && $0.item == item }
    }

    /// Whether the metric has one value per configured command.
    var perCommand: Bool {
        switch self {
        case .numclients, .maxmemory, .line, .errline, .rawline, .rawerrline,
             .continued, .exitstatus, .endreason, .configReloads, .configFailures: return false
        default: return true
        }
    }

    var type: Int32 {
        switch self {
        case .numclients, .queueCount, .queueNumclients, .continued, .configReloads, .configFailures:
            return PM_TYPE_U32
        case .maxmemory, .queueMemused, .queueBytes, .runsStarted, .runsFailed, .runsRefused,
             .runsLines, .runsBytes, .runsDropped:
            return PM_TYPE_U64
        case .runsActive: return PM_TYPE_U32
        case .exitstatus, .laststatus, .runsExitstatus: return PM_TYPE_32
        case .commands, .line, .errline, .endreason, .lasterror: return PM_TYPE_STRING
        case .rawline, .rawerrline: return PM_TYPE_AGGREGATE
        case .firehose: return PM_TYPE_EVENT
        }
    }

    var semantics: Int32 {
        switch self {
        case .maxmemory, .commands, .laststatus, .lasterror, .runsExitstatus: return PM_SEM_DISCRETE
        case .queueCount, .queueBytes, .runsStarted, .runsFailed, .runsRefused, .runsLines,
             .runsBytes, .runsDropped, .configReloads, .configFailures: return PM_SEM_COUNTER
        default: return PM_SEM_INSTANT
        }
    }

    var units: pmUnits {
        switch self {
        case .maxmemory, .queueMemused, .queueBytes, .runsBytes:
            return cpcp_pmunits(1, 0, 0, Int32(PM_SPACE_BYTE), 0, 0)
        case .numclients, .queueCount, .runsActive, .runsStarted, .runsFailed, .runsRefused,
             .runsLines, .runsDropped, .configReloads, .configFailures:
            return cpcp_pmunits(0, 0, 1, 0, 0, Int32(PM_COUNT_ONE))
        default:
            return cpcp_pmunits(0, 0, 0, 0, 0, 0)
        }
    }
}

/// The metric and instance-domain tables handed to pmdaInit. libpcp_pmda keeps
/// pointers into both for the life of the agent, so they are allocated once
/// and never freed.
struct MetricTable {
    let metrics: UnsafeMutablePointer<pmdaMetric>
    let metricCount: Int32
    let indoms: UnsafeMutablePointer<pmdaIndom>

    /// The serial of the one instance domain: the configured commands.
    static let commandsIndomSerial: UInt32 = 0

    static func make() -> MetricTable {
        let all = Metric.allCases
        let metrics = UnsafeMutablePointer<pmdaMetric>.allocate(capacity: all.count)
        for (index, metric) in all.enumerated() {
            var desc = pmDesc()
            desc.pmid = cpcp_pmda_pmid(metric.cluster, metric.item)
            desc.type = metric.type
            // Before pmdaInit an indom field holds the serial; pmdaInit makes it a full pmInDom.
            desc.indom = metric.perCommand ? commandsIndomSerial : cpcp_INDOM_NULL
            desc.sem = metric.semantics
            desc.units = metric.units
            (metrics + index).initialize(to: pmdaMetric(m_user: nil, m_desc: desc))
        }
        let indoms = UnsafeMutablePointer<pmdaIndom>.allocate(capacity: 1)
        // No static instance list: the pmdaCache holds the instances (stable numbers, saved on disk).
        indoms.initialize(to: pmdaIndom(it_indom: commandsIndomSerial, it_numinst: 0, it_set: nil))
        return MetricTable(metrics: metrics, metricCount: Int32(all.count), indoms: indoms)
    }

    /// The full PMID of a metric (valid after pmdaInit filled in the domain).
    func pmid(of metric: Metric) -> pmID {
        let index = Metric.allCases.firstIndex(of: metric)!
        return metrics[index].m_desc.pmid
    }

    /// The full instance domain of the configured commands (valid after pmdaInit).
    var commandsIndom: pmInDom { indoms.pointee.it_indom }
}
