import PipeCore
import PipeSystem

extension Agent {
    /// Reads what a command wrote, a bounded amount per loop turn, into its
    /// client's queue.
    func readOutput(_ run: Run, _ kind: StreamKind) {
        let now = Clock.monotonic()
        for _ in 0..<settings.readsPerTurn {
            guard let fd = kind == .stdout ? run.stdout : run.stderr else { return }
            guard run.wantsInput else { break }
            let result: FileDescriptor.ReadResult
            do {
                result = try fd.read(into: readBuffer)
            } catch {
                Log.error("\(run.name) pid \(run.pid): reading its \(kind) failed: \(error)")
                closeStream(run, kind, flush: true)
                deliver(.streamClosed(kind), to: run, now: now)
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .endOfFile:
                closeStream(run, kind, flush: true)
                deliver(.streamClosed(kind), to: run, now: now)
                return
            case .bytes(let count):
                ingest(run, kind, UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
                if let limit = run.spec.options.outputLimit, run.bytesIngested > UInt64(limit.bytes) {
                    deliver(.stop(.outputLimit(limit)), to: run, now: now)
                }
                if count < readBuffer.count { break }
            }
        }
        noteQueueState(run, now: now)
    }

    /// Tells the lifecycle when the queue fills or has room again (the idle
    /// limit counts only while the command waits on a full queue).
    func noteQueueState(_ run: Run, now: Instant) {
        guard run.shared == nil else { return }
        let full = !run.detached && !run.finished && !run.output.wantsInput && run.output.phase == .running
        if full != run.reportedQueueFull {
            run.reportedQueueFull = full
            deliver(.queueFull(full), to: run, now: now)
        }
    }

    private func ingest(_ run: Run, _ kind: StreamKind, _ chunk: UnsafeRawBufferPointer) {
        let now = Clock.now()
        guard kind == .stderr else {
            run.ingest(chunk, from: .stdout, at: now)
            return
        }
        switch run.spec.options.stderr {
        case .records:
            run.ingest(chunk, from: .stderr, at: now)
            logStderr(run, chunk, limit: 3)
        case .log:
            logStderr(run, chunk, limit: settings.stderrChunksLogged)
        case .discard:
            break
        }
    }

    /// Copies a command's stderr to the log, escaped, a bounded number of
    /// chunks per run.
    private func logStderr(_ run: Run, _ chunk: UnsafeRawBufferPointer, limit: Int) {
        guard run.stderrLogged <= limit else { return }
        run.stderrLogged += 1
        if run.stderrLogged > limit {
            Log.info("\(run.name) pid \(run.pid) stderr: (more output not logged)")
            return
        }
        audit.stderr(of: run, chunk)
    }

    /// Closes one pipe; `flush` hands a last line without newline to the
    /// queue (not when the client is gone).
    func closeStream(_ run: Run, _ kind: StreamKind, flush: Bool) {
        switch kind {
        case .stdout:
            guard let fd = run.stdout else { return }
            fd.close()
            run.stdout = nil
        case .stderr:
            guard let fd = run.stderr else { return }
            fd.close()
            run.stderr = nil
        }
        if flush { run.closeOutput(kind, at: Clock.now()) }
    }

    // MARK: - Fetch

    /// The next batch of the client's run of `instance`, as one event array:
    /// the same array for every value set of the run within one PDU.
    func records(for client: ClientContext, instance: Int32) -> MetricValue {
        switch client.streams[instance] {
        case nil:
            return .none
        case .ended(let runID)?:
            if let answered = arrays.answer(for: runID) { return answered.map { .events($0) } ?? .none }
            return .streamEnded
        case .active(let run)?:
            if let answered = arrays.answer(for: run.id) { return answered.map { .events($0) } ?? .none }
            let now = Clock.monotonic()
            deliver(.fetched, to: run, now: now)
            guard run.output.hasPendingRecords else { return .none }
            let (records, bytes) = BatchLimits.share(
                settings.batches.limits(sincePrevious: run.lastFetchAt.map { now.nanoseconds &- $0 }),
                among: copiesInPDU)
            run.lastFetchAt = now.nanoseconds
            let reason = run.lifecycle.endReason
            let array = arrays.encode(for: run.id) { writer in
                writer.encode { encoder in
                    run.output.encodeBatch(into: &encoder, maxRecords: records, maxBytes: bytes, endReason: reason)
                }
            }
            if run.output.phase == .delivered {
                client.streams[instance] = .ended(runID: run.id)
                retireIfDone(run)
            } else {
                noteQueueState(run, now: now)
            }
            return array.map { .events($0) } ?? .none
        }
    }
}
