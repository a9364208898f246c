import PipeCore
import PipeSystem

/// One command started for one client context: its processes, its two
/// output pipes, the lines waiting for the client, and its lifecycle (the
/// state machine that holds every deadline; see RunLifecycle). A run
/// outlives its client when it must: after a disconnect it stays until all
/// of its processes are gone.
final class Run {
    let id: UInt64
    let context: Int32
    /// The instance number of its command (commands indom) when it started.
    let instance: Int32
    let plan: LaunchPlan
    let client: ClientIdentity
    let pid: Int32
    let processes: any RunProcessSet
    let startedAt: Instant
    let startedWall: Timestamp

    var stdout: FileDescriptor?
    var stderr: FileDescriptor?
    /// A private run's lines, queued for its one client (nil for a shared run).
    var output: RunOutput!
    /// A shared run: its buffer that every permitted reader follows, and
    /// what else the pipe.run.* metrics say about it (nil for a private run).
    var shared: SharedRun?
    var lifecycle: RunLifecycle
    /// What the lifecycle was last told about the queue (`.queueFull`).
    var reportedQueueFull = false
    /// The client is gone: output is no longer kept.
    var detached = false
    /// When the client last fetched (monotonic ns), for batch sizes.
    var lastFetchAt: UInt64?
    /// Stderr chunks copied to the log so far (bounded per run).
    var stderrLogged = 0

    init(
        id: UInt64, context: Int32, instance: Int32, plan: LaunchPlan, client: ClientIdentity,
        process: SpawnedProcess, processes: any RunProcessSet, output: RunOutput?, shared: SharedRun?,
        settings: RunLifecycle.Settings, now: Instant, wall: Timestamp
    ) {
        self.id = id
        self.context = context
        self.instance = instance
        self.plan = plan
        self.client = client
        self.pid = process.pid
        self.processes = processes
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.output = output
        self.shared = shared
        self.startedAt = now
        self.startedWall = wall
        self.lifecycle = RunLifecycle(settings: settings, startedAt: now)
    }

    var name: String { plan.spec.name }
    var spec: CommandSpec { plan.spec }
    var finished: Bool { lifecycle.phase == .finished }

    // MARK: - Output, private or shared

    /// Whether the agent should read the command's pipes now: a private run
    /// waits while its queue is full (block policy); a shared one never.
    var wantsInput: Bool {
        if let shared { return !shared.output.isFinished }
        return output.wantsInput
    }

    func ingest(_ bytes: UnsafeRawBufferPointer, from stream: StreamKind, at time: Timestamp) {
        if shared != nil {
            shared!.output.ingest(bytes, from: stream, at: time)
        } else {
            output.ingest(bytes, from: stream, at: time)
        }
    }

    /// The stream ended: its last line without a newline is kept.
    func closeOutput(_ stream: StreamKind, at time: Timestamp) {
        if shared != nil {
            if !shared!.output.isFinished { shared!.output.closeStream(stream, at: time) }
        } else if output.phase == .running {
            output.closeStream(stream, at: time)
        }
    }

    /// The run is over: the end record is queued (private) or kept for readers (shared).
    func finishOutput(_ termination: Termination, at time: Timestamp) {
        if shared != nil { shared!.output.finish(termination, at: time) } else { output.finish(termination, at: time) }
    }

    var bytesIngested: UInt64 { shared?.output.bytesIngested ?? output.bytesIngested }

    /// Lines and bytes read, lines dropped.
    var totals: (lines: UInt64, bytes: UInt64, dropped: UInt64) {
        if let shared { return (shared.output.totalRecords, shared.output.totalBytes, shared.output.dropped) }
        return (output.queue.totalRecords, output.queue.totalBytes, output.queue.totalDropped)
    }

    /// Closes both output pipes without reading what is left.
    func closePipes() {
        stdout?.close()
        stdout = nil
        stderr?.close()
        stderr = nil
    }
}

/// What a shared run has besides its process: its name in the runs
/// instance domain, its buffer, its owner, and the times that expire it.
struct SharedRun {
    /// NAME.SEQ
    let name: String
    /// Its instance in the runs instance domain (PIPE.1).
    let instance: Int32
    var output: SharedRunOutput
    /// Who started it: a user name, or "pmdapipe (autostart)".
    let ownerName: String
    /// The starter's uid; nil for an autostart run (root and readers only).
    let ownerUID: UInt32?
    let autostart: Bool
    /// The last fetch of its records or text by any reader.
    var lastRead: Instant
    /// When a finished run is culled.
    var retainUntil: Instant?
    /// When it finished (nil while it runs): the oldest finished runs go
    /// first when too many are kept (RetainedRun.toCull).
    var finishedAt: Instant?
}
