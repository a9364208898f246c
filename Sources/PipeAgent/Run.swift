import CPCP
import PipeCore
import PipeSystem

/// One command started for one client context: its process group, its two
/// output pipes, the lines waiting for the client, and the stop/kill timers.
/// A run outlives its client if needed: after a disconnect it stays here,
/// detached, until its whole process group is gone and it has been reaped.
final class Run {
    let id: UInt64
    let context: Int32
    let instance: Int32
    let spec: CommandSpec
    let client: ClientIdentity
    let parameters: [String]
    let pid: Int32
    let startedAt: UInt64          // monotonic ns
    let startedWall: Timestamp

    var stdout: FileDescriptor?
    var stderr: FileDescriptor?
    var output: RunOutput

    /// How the command's main process ended, once reaped.
    var termination: Termination?
    /// Set when the agent decided to stop the run (client gone, limit, shutdown).
    var stopReason: String?
    /// Whether the client is gone: output is no longer kept.
    var detached = false
    /// Whether RunOutput.finish has been called and the run accounted for.
    var finished = false

    /// Deadlines, monotonic ns.
    var timeLimitAt: UInt64?
    var killAt: UInt64?
    var forceCloseAt: UInt64?

    /// When the client last fetched this run's records (monotonic ns).
    var lastFetchAt: UInt64?

    /// The event array this run's records are encoded into (nil: none yet).
    var eventArray: EventArrayWriter?

    init(id: UInt64, context: Int32, instance: Int32, spec: CommandSpec, client: ClientIdentity,
         parameters: [String], process: SpawnedProcess, output: RunOutput, now: UInt64, wall: Timestamp) {
        self.id = id
        self.context = context
        self.instance = instance
        self.spec = spec
        self.client = client
        self.parameters = parameters
        self.pid = process.pid
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.output = output
        self.startedAt = now
        self.startedWall = wall
        if let limit = spec.options.timeLimit {
            timeLimitAt = now + limit.nanoseconds
        }
    }

    var name: String { spec.name }
    var pipesOpen: Bool { stdout != nil || stderr != nil }

    /// Closes both output pipes without reading what is left (nobody will):
    /// a command still writing then gets SIGPIPE.
    func closePipes() {
        stdout?.close(); stdout = nil
        stderr?.close(); stderr = nil
    }

    /// The earliest timer of this run, if any.
    var nextDeadline: UInt64? {
        [timeLimitAt, killAt, forceCloseAt].compactMap { $0 }.min()
    }

    /// Why the run ended, for pipe.endreason and the audit log.
    var endReason: String {
        if let stopReason { return "stopped: \(stopReason)" }
        switch termination {
        case .exited?: return "exited"
        case .signaled(let signal)?: return "killed by signal \(signal)"
        case nil: return "running"
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (durations here are config values: seconds to hours).
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}
