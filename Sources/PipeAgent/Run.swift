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
    var output: RunOutput
    var lifecycle: RunLifecycle
    /// What the lifecycle was last told about the queue (`.queueFull`).
    var reportedQueueFull = false
    /// The client is gone: output is no longer kept.
    var detached = false
    /// When the client last fetched (monotonic ns), for batch sizes.
    var lastFetchAt: UInt64?
    /// Stderr chunks copied to the log so far (bounded per run).
    var stderrLogged = 0

    init(id: UInt64, context: Int32, instance: Int32, plan: LaunchPlan, client: ClientIdentity,
         process: SpawnedProcess, processes: any RunProcessSet, output: RunOutput,
         settings: RunLifecycle.Settings, now: Instant, wall: Timestamp) {
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
        self.startedAt = now
        self.startedWall = wall
        self.lifecycle = RunLifecycle(settings: settings, startedAt: now)
    }

    var name: String { plan.spec.name }
    var spec: CommandSpec { plan.spec }
    var finished: Bool { lifecycle.phase == .finished }

    /// Closes both output pipes without reading what is left.
    func closePipes() {
        stdout?.close()
        stdout = nil
        stderr?.close()
        stderr = nil
    }
}
