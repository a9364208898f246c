import CPCP
import PipeCore

/// The records of one run read back from a pmlogger archive: the instance
/// NAME.SEQ of `pipe.run.records` (what pmlogger logs of shared runs), or
/// failing that an instance of `pipe.firehose` (which pmlogger cannot start,
/// so an archive normally holds none), within an optional time window.
///
/// The window is given as PCP tools take it (`-S`, `-T`; PCPIntro(1)) and
/// parsed by libpcp's pmParseTimeWindow against the archive's own start and
/// end. Records are kept or left out by their own timestamps (the time the
/// agent read each line), not by the time pmlogger fetched them.
public final class ArchiveReplay {
    public let parameterIDs: EventParameterIDs
    public let layout: TypeLengthLayout
    /// Which records are printed: none outside `-S`..`-T`.
    public let window: RecordWindow
    /// pmParseTimeWindow's warning (a time outside the archive, ...), if any.
    public let warning: String?
    /// The metric the records come from (`pipe.run.records` or `pipe.firehose`).
    public let metricName: String

    private let context: PCPContext
    private let metric: pmID
    private let instance: Int32

    /// Opens `archive` and finds `name` in it.
    public init(
        archive: String, instance name: String, start: String?, finish: String?,
        prefix: String = "pipe"
    ) throws(PipeClientError) {
        let names = PipeMetricNames(prefix: prefix)
        context = try PCPContext(archive: archive)
        var found: (metric: pmID, name: String, instance: Int32)?
        var known: [String] = []
        for metricName in [names.runRecords, names.firehose] {
            guard let pmid = try context.lookup(metricName) else { continue }
            let indom = try context.descriptor(pmid, name: metricName).indom
            if let instance = try context.instance(named: name, in: indom) {
                found = (pmid, metricName, instance)
                break
            }
            if metricName == names.runRecords {
                known = try context.instances(of: indom, purpose: "listing the runs the archive knows").map(\.name)
            }
        }
        guard let found else { throw .notInArchive(instance: name, archive: archive, known: known) }
        metric = found.metric
        metricName = found.name
        instance = found.instance

        // The event parameters by name; an archive holds the names of the
        // parameters pmlogger met, so a run without stderr lines may lack
        // pipe.errline: then the agent's fixed PMIDs (same domain) serve.
        let context = self.context
        let domain = pmID_domain(found.metric)
        func id(_ name: String, _ catalog: Metric) throws(PipeClientError) -> UInt32 {
            try context.lookup(name) ?? pmID_build(domain, catalog.cluster, catalog.item)
        }
        parameterIDs = EventParameterIDs(
            line: try id(names.line, .line), errline: try id(names.errLine, .errline),
            rawline: try id(names.rawLine, .rawline), rawerrline: try id(names.rawErrLine, .rawerrline),
            continued: try id(names.continued, .continued), noeol: try id(names.noeol, .noeol),
            exitstatus: try id(names.exitStatus, .exitstatus), endreason: try id(names.endReason, .endreason))
        layout = TypeLengthLayout { cpcp_param_word($0, $1) }

        var label = pmLogLabel()
        var sts = pmGetArchiveLabel(&label)
        guard sts >= 0 else { throw .cannotOpenArchive(path: archive, reason: pcpErrorText(sts)) }
        var origin = label.ll_start
        var notBefore: Timestamp?
        var notAfter: Timestamp?
        var warning: String?
        if start != nil || finish != nil {
            var end = timeval()
            sts = pmGetArchiveEnd(&end)
            guard sts >= 0 else { throw .cannotOpenArchive(path: archive, reason: pcpErrorText(sts)) }
            var windowStart = timeval()
            var windowEnd = timeval()
            var message = [CChar](repeating: 0, count: 1024)
            let size = message.count
            let parsed = message.withUnsafeMutableBufferPointer { buffer in
                cpcp_client_time_window(
                    start, finish, &origin, &end, &windowStart, &windowEnd,
                    buffer.baseAddress, size)
            }
            let text = Self.oneLine(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            guard parsed >= 0 else {
                throw .badTimeWindow(text.isEmpty ? "-S \(start ?? "") -T \(finish ?? "")" : text)
            }
            if !text.isEmpty { warning = text }
            if start != nil {
                origin = windowStart
                notBefore = Timestamp(seconds: Int64(windowStart.tv_sec), microseconds: Int32(windowStart.tv_usec))
            }
            if finish != nil {
                notAfter = Timestamp(seconds: Int64(windowEnd.tv_sec), microseconds: Int32(windowEnd.tv_usec))
            }
        }
        window = RecordWindow(notBefore: notBefore, notAfter: notAfter)
        self.warning = warning
        sts = pmSetMode(PM_MODE_FORW, &origin, 0)
        guard sts >= 0 else { throw .pcp(operation: "positioning in the archive", reason: pcpErrorText(sts)) }
    }

    deinit { context.close() }

    /// What one read of the archive gave.
    public enum Step: Sendable, Equatable {
        /// This many records of the run (in the window or not).
        case records(Int)
        /// The archive's record lies after the window: nothing later can be in it.
        case pastWindow
        /// The archive has no more records.
        case end
    }

    /// Reads the archive's next record and hands the run's event records in
    /// it to `handler`. The corresponding C call is pmFetch (PM_MODE_FORW).
    public func next<Handler: EventRecordHandler & ~Copyable>(into handler: inout Handler) throws -> Step {
        let instance = self.instance
        let layout = self.layout
        let notAfter = window.notAfter
        do {
            return try context.fetch(metric) { vset, time -> Step in
                let outcome = try PipeConnection.decodeRecords(vset, instance: instance, layout: layout, into: &handler)
                // This fetch may still hold records of the window (those read
                // since pmlogger's previous fetch); every later one holds only
                // records newer than this fetch, so none of the window's.
                if let notAfter, notAfter < time { return .pastWindow }
                if case .records(let count) = outcome { return .records(count) }
                return .records(0)
            }
        } catch is ArchiveEnd {
            return .end
        }
    }

    /// pmParseTimeWindow's message as one sentence. It comes as the text
    /// it could not read, then a caret under the mistake and the reason:
    ///
    ///     21:29:99
    ///           ^ -- unexpected value
    ///
    /// which becomes `unexpected value at '99' in '21:29:99'`.
    static func oneLine(_ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if lines.count >= 2, let caret = lines[1].firstIndex(of: "^"),
            lines[1][..<caret].allSatisfy({ $0 == " " })
        {
            let column = lines[1].distance(from: lines[1].startIndex, to: caret)
            var reason = String(lines[1][lines[1].index(after: caret)...]).trimmingASCIIWhitespace()
            if reason.hasPrefix("--") { reason = String(reason.dropFirst(2)).trimmingASCIIWhitespace() }
            let rest = String(lines[0].dropFirst(column))
            if reason.isEmpty { reason = "cannot read" }
            return rest.isEmpty || rest == lines[0]
                ? "\(reason) in '\(lines[0])'"
                : "\(reason) at '\(rest)' in '\(lines[0])'"
        }
        return lines.map { $0.trimmingASCIIWhitespace() }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}
