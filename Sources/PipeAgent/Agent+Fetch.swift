import CPCP
import Glibc
import PipeCore

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
            let array = eventArray(for: run)
            let count = encodeBatch(run, into: array)
            if run.output.phase == .delivered {
                client.streams[instance] = .ended
                releaseArray(of: run)
            }
            guard count > 0, let address = pmdaEventGetAddr(array) else { return cpcp_FETCH_NOVALUES }
            atom.pointee.vbp = UnsafeMutableRawPointer(address).assumingMemoryBound(to: pmValueBlock.self)
            return cpcp_FETCH_STATIC
        }
    }

    private func eventArray(for run: Run) -> Int32 {
        if run.eventArray < 0 {
            run.eventArray = freeArrays.popLast() ?? pmdaEventNewArray()
        }
        pmdaEventResetArray(run.eventArray)
        return run.eventArray
    }

    /// Gives a run's event array back once the PDU that points into it is sent.
    func releaseArray(of run: Run) {
        guard run.eventArray >= 0 else { return }
        arraysToRelease.append(run.eventArray)
        run.eventArray = -1
    }

    /// Called after each PDU has been answered. A few arrays are kept for
    /// reuse; the rest are freed, since each keeps the size of the largest
    /// batch it ever held (up to about a megabyte).
    func recycleArrays() {
        for array in arraysToRelease {
            if freeArrays.count < Self.pooledArrays {
                freeArrays.append(array)
            } else {
                pmdaEventReleaseArray(array)
            }
        }
        arraysToRelease.removeAll(keepingCapacity: true)
    }

    static let pooledArrays = 8

    /// Frees every pooled event array (the agent is idle).
    func releasePooledArrays() {
        for array in freeArrays { pmdaEventReleaseArray(array) }
        freeArrays.removeAll()
    }

    /// Encodes up to one batch of the run's records with libpcp_pmda's event
    /// array API. Returns the number of records added.
    private func encodeBatch(_ run: Run, into array: Int32) -> Int {
        var added = 0
        run.output.takeBatch(maxRecords: settings.batchRecords, maxBytes: settings.batchBytes) { record in
            var time = timeval(tv_sec: Int(record.time.seconds), tv_usec: Int(record.time.microseconds))
            var atom = pmAtomValue()
            if case .missed(let count) = record.payload {
                pmdaEventAddMissedRecord(array, &time, Int32(clamping: count))
                added += 1
                return
            }
            guard pmdaEventAddRecord(array, &time, Int32(bitPattern: record.flags.rawValue)) >= 0 else { return }
            added += 1
            if case .line(let bytes, let stream, let continued, let containsNUL) = record.payload {
                if containsNUL {
                    addAggregate(bytes, pmid: stream == .stdout ? pmids.rawline : pmids.rawerrline, to: array)
                } else {
                    addString(bytes, pmid: stream == .stdout ? pmids.line : pmids.errline, to: array)
                }
                if continued {
                    atom.ul = 1
                    pmdaEventAddParam(array, pmids.continued, PM_TYPE_U32, &atom)
                }
            }
            if let termination = record.termination {
                atom.l = termination.shellStatus
                pmdaEventAddParam(array, pmids.exitstatus, PM_TYPE_32, &atom)
                run.endReason.withCString { reason in
                    atom.cp = UnsafeMutablePointer(mutating: reason)
                    pmdaEventAddParam(array, pmids.endreason, PM_TYPE_STRING, &atom)
                }
            }
        }
        return added
    }

    /// A line without NUL bytes: the queue stores a 0 byte right after each
    /// line, so its bytes already are a C string.
    private func addString(_ bytes: UnsafeRawBufferPointer, pmid: pmID, to array: Int32) {
        var atom = pmAtomValue()
        if let base = bytes.baseAddress {
            atom.cp = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: CChar.self))
            pmdaEventAddParam(array, pmid, PM_TYPE_STRING, &atom)
        } else {
            "".withCString { empty in
                atom.cp = UnsafeMutablePointer(mutating: empty)
                pmdaEventAddParam(array, pmid, PM_TYPE_STRING, &atom)
            }
        }
    }

    /// A line holding NUL bytes travels as exact bytes (PM_TYPE_AGGREGATE),
    /// since a string would be cut at the first NUL.
    private func addAggregate(_ bytes: UnsafeRawBufferPointer, pmid: pmID, to array: Int32) {
        let needed = Int(PM_VAL_HDR_SIZE) + bytes.count
        if needed > aggregateScratchSize {
            aggregateScratch.deallocate()
            aggregateScratchSize = max(needed, aggregateScratchSize * 2)
            aggregateScratch = UnsafeMutableRawPointer.allocate(byteCount: aggregateScratchSize, alignment: 8)
        }
        let block = aggregateScratch.assumingMemoryBound(to: pmValueBlock.self)
        cpcp_valueblock_set_header(block, PM_TYPE_AGGREGATE, Int32(needed))
        if let base = bytes.baseAddress {
            (aggregateScratch + Int(PM_VAL_HDR_SIZE)).copyMemory(from: base, byteCount: bytes.count)
        }
        var atom = pmAtomValue()
        atom.vbp = block
        pmdaEventAddParam(array, pmid, PM_TYPE_AGGREGATE, &atom)
    }
}
