import CPCP
import Glibc
import PipeCore
import PipeSystem

extension Agent {
    // MARK: - Fetch

    /// The value of one metric instance for the calling client context.
    /// Returns a PMDA_FETCH_* code or a PCP error, as pmdaFetch expects.
    func fetch(metric: Metric, instance: UInt32, context: Int32,
               atom: UnsafeMutablePointer<pmAtomValue>) -> Int32 {
        let inst = Int32(bitPattern: instance)
        let name: String?
        if metric.perCommand {
            guard let known = instances.nameByNumber[inst] else { return cpcp_ERR_INST }
            name = known
        } else {
            name = nil
        }
        let client = clients[context]

        switch metric {
        case .numclients:
            atom.pointee.ul = UInt32(clients.count)
        case .maxmemory:
            atom.pointee.ull = UInt(settings.defaultQueueCapacity)
        case .commands:
            guard let spec = configuration.command(named: name!) else { return cpcp_FETCH_NOVALUES }
            return dynamicString(spec.commandLine, atom)
        case .line, .errline, .rawline, .rawerrline, .continued, .exitstatus, .endreason:
            // Event record parameters only.
            return cpcp_FETCH_NOVALUES
        case .firehose:
            guard let client else { return cpcp_FETCH_NOVALUES }
            return fetchRecords(client: client, instance: inst, atom: atom)
        case .queueMemused, .queueCount, .queueBytes, .queueNumclients:
            guard let run = client?.activeRun(inst) else { return cpcp_FETCH_NOVALUES }
            let queue = run.output.queue
            switch metric {
            case .queueMemused: atom.pointee.ull = UInt(queue.memoryUsed)
            case .queueCount: atom.pointee.ul = UInt32(truncatingIfNeeded: queue.totalRecords)
            case .queueBytes: atom.pointee.ull = UInt(queue.totalBytes)
            default: atom.pointee.ul = run.detached ? 0 : 1
            }
        case .laststatus:
            guard let status = client?.lastStatus[inst] else { return cpcp_FETCH_NOVALUES }
            atom.pointee.l = status.shellStatus
        case .lasterror:
            guard let message = client?.lastError[inst] else { return cpcp_FETCH_NOVALUES }
            return dynamicString(message, atom)
        case .runsActive:
            atom.pointee.ul = UInt32(admission.running(instance: name!))
        case .runsStarted, .runsFailed, .runsRefused, .runsLines, .runsBytes, .runsDropped:
            atom.pointee.ull = UInt(total(metric, of: name!))
        case .runsExitstatus:
            guard let status = counters[name!]?.lastStatus else { return cpcp_FETCH_NOVALUES }
            atom.pointee.l = status
        case .configReloads:
            atom.pointee.ul = reloads
        case .configFailures:
            atom.pointee.ul = reloadFailures
        }
        return cpcp_FETCH_STATIC
    }

    /// Finished runs' totals plus what the command's live runs have read so far.
    private func total(_ metric: Metric, of name: String) -> UInt64 {
        let done = counters[name] ?? CommandCounters()
        let live = runs.values.filter { $0.name == name && !$0.finished }
        switch metric {
        case .runsStarted: return done.started
        case .runsFailed: return done.failed
        case .runsRefused: return done.refused
        case .runsLines: return done.lines + live.reduce(0) { $0 + $1.output.queue.totalRecords }
        case .runsBytes: return done.bytes + live.reduce(0) { $0 + $1.output.queue.totalBytes }
        case .runsDropped: return done.dropped + live.reduce(0) { $0 + $1.output.queue.totalDropped }
        default: return 0
        }
    }

    /// A string value libpcp frees after sending (PMDA_FETCH_DYNAMIC).
    private func dynamicString(_ text: String, _ atom: UnsafeMutablePointer<pmAtomValue>) -> Int32 {
        atom.pointee.cp = strdup(text)
        return cpcp_FETCH_DYNAMIC
    }

    // MARK: - Event records

    /// The next batch of the client's run of `instance`, as one event array.
    private func fetchRecords(client: ClientContext, instance: Int32,
                              atom: UnsafeMutablePointer<pmAtomValue>) -> Int32 {
        switch client.streams[instance] {
        case nil:
            return cpcp_FETCH_NOVALUES
        case .ended?:
            // The end record was delivered: the fetch trampoline turns this
            // into PM_ERR_NOTCONN, which tells pmval/pmevent the stream is over.
            streamsEndedThisFetch = true
            return cpcp_FETCH_NOVALUES
        case .active(let run)?:
            guard run.output.hasPendingRecords else { return cpcp_FETCH_NOVALUES }
            let writer = eventArray(for: run)
            let count = encodeBatch(run, into: writer)
            if run.output.phase == .delivered {
                client.streams[instance] = .ended
                releaseArray(of: run)
            }
            guard count > 0 else { return cpcp_FETCH_NOVALUES }
            // pmdaFetch sends this block as it is (PMDA_FETCH_STATIC); it stays
            // untouched until recycleArrays runs after the PDU has gone out.
            let array = writer.finish()
            atom.pointee.vbp = UnsafeMutableRawPointer(mutating: array.baseAddress!)
                .assumingMemoryBound(to: pmValueBlock.self)
            return cpcp_FETCH_STATIC
        }
    }

    private func eventArray(for run: Run) -> EventArrayWriter {
        let writer = run.eventArray ?? freeArrays.popLast() ?? EventArrayWriter(layout: eventFormat.layout)
        run.eventArray = writer
        writer.reset()
        return writer
    }

    /// Gives a run's event array back once the PDU that points into it is sent.
    func releaseArray(of run: Run) {
        guard let writer = run.eventArray else { return }
        arraysToRelease.append(writer)
        run.eventArray = nil
    }

    /// Called after each PDU has been answered. A few arrays are kept for
    /// reuse; the rest are freed, since each keeps the size of the largest
    /// batch it ever held (a few megabytes at most).
    func recycleArrays() {
        for writer in arraysToRelease where freeArrays.count < Self.pooledArrays {
            freeArrays.append(writer)
        }
        arraysToRelease.removeAll(keepingCapacity: true)
    }

    static let pooledArrays = 8

    /// Frees every pooled event array (the agent is idle).
    func releasePooledArrays() {
        freeArrays.removeAll()
    }

    /// Encodes up to one batch of the run's records. Returns the number of
    /// records added.
    private func encodeBatch(_ run: Run, into writer: EventArrayWriter) -> Int {
        let now = Clock.monotonicNanoseconds()
        let (records, bytes) = settings.batches.limits(sincePrevious: run.lastFetchAt.map { now &- $0 })
        run.lastFetchAt = now
        let reason = run.endReason
        return writer.encode { array in
            run.output.encodeBatch(into: &array, maxRecords: records, maxBytes: bytes, endReason: reason)
        }
    }
}
