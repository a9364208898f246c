import PipeCore
import PipeSystem

/// What the audit trail records: one line per request, allowed or refused,
/// and one when a run ends.
enum AuditEvent {
    case started(Run)
    case ended(Run)
    case refused(client: ClientIdentity, context: Int32, instance: String, parameters: [String], reason: String)
}

/// The audit trail in the agent's log (see AuditRecord for the line
/// format): bounded per user for refusals (RefusalLimiter), each value
/// capped, a command's stderr escaped like audit values.
final class AuditLog {
    private var limiter = RefusalLimiter()

    func record(_ event: AuditEvent, now: Instant) {
        switch event {
        case .started(let run):
            Log.info("started: \(Self.record(for: run, ended: false).logLine)")
        case .ended(let run):
            Log.info("ended: \(Self.record(for: run, ended: true).logLine)")
        case .refused(let client, let context, let instance, let parameters, let reason):
            guard limiter.admit(uid: client.uid, now: now) else { return }
            var record = AuditRecord(
                time: Clock.now(), context: context, instance: instance,
                parameters: parameters, decision: .refused(reason))
            record.uid = client.uid
            record.gid = client.gid
            record.user = client.userName
            record.authentication = client.authentication.name
            Log.warning("refused: \(record.logLine)")
        }
    }

    /// Summaries of refusals that were counted instead of logged.
    func flush(now: Instant) {
        for summary in limiter.closed(now: now) {
            let who = summary.uid.map { "uid \($0)" } ?? "clients without credentials"
            Log.warning(
                "refused: \(summary.suppressed) more refusals for \(who) in the last "
                    + "\(summary.over.components.seconds) s (not logged one by one)")
        }
    }

    var nextDeadline: Instant? { limiter.nextDeadline }

    /// A few lines of a command's stderr, escaped so that no byte can forge
    /// a log line or a terminal control sequence.
    func stderr(of run: Run, _ bytes: UnsafeRawBufferPointer) {
        var line = ""
        AuditRecord.appendValue(AuditRecord.capped(String(decoding: bytes.prefix(512), as: UTF8.self)), to: &line)
        Log.info("\(run.name) pid \(run.pid) stderr: \(line)")
    }

    private static func record(for run: Run, ended: Bool) -> AuditRecord {
        var record = AuditRecord(
            time: Clock.now(), context: run.context, instance: run.name,
            parameters: run.plan.parameters, decision: .allowed)
        record.uid = run.client.uid
        record.gid = run.client.gid
        record.user = run.client.userName
        record.authentication = run.client.authentication.name
        record.pid = run.pid
        guard ended else { return record }
        record.termination = run.lifecycle.termination
        record.stopReason = run.lifecycle.stopReason?.description
        record.duration = Clock.monotonic().since(run.startedAt)
        (record.lines, record.bytes, record.dropped) = run.totals
        return record
    }
}
