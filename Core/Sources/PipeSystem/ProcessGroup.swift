import CPipeSpawn
import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Signals a whole command: every spawned command leads its own session and
/// process group, so its grandchildren (`sh -c 'a | b'`, `x &`) go with it.
public enum ProcessGroup {
    /// Sends `signal` to every process in group `pgid`; returns false if the
    /// group no longer exists (ESRCH). A group whose members are all zombies
    /// still exists until they are reaped.
    /// `pgid` must be a spawned command's pid: 0 and 1 would hit the agent's
    /// own group or everything, and are programmer errors.
    /// The corresponding C call is killpg(3).
    @discardableResult
    public static func signal(_ pgid: Int32, _ signal: Int32) -> Bool {
        precondition(pgid > 1, "refusing to signal process group \(pgid)")
        if killpg(pgid, signal) == 0 { return true }
        return Glibc.errno != ESRCH
    }

    /// Whether any process (zombies included) is left in group `pgid`.
    /// The corresponding C call is killpg(3) with signal 0.
    public static func exists(_ pgid: Int32) -> Bool {
        signal(pgid, 0)
    }
}

/// Collects exit statuses: of the agent's own children and, once the agent
/// is a subreaper, of orphaned descendants re-parented to it.
public enum Reaper {
    /// waitpid(-1, WNOHANG) until nothing is left: every exited child, ours
    /// or an orphan re-parented to us as subreaper.
    /// The corresponding C call is waitpid(2).
    public static func reapAll() -> [(pid: Int32, termination: Termination)] {
        var reaped: [(pid: Int32, termination: Termination)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                reaped.append((pid, termination(status)))
                continue
            }
            if pid < 0 && Glibc.errno == EINTR { continue }
            return reaped  // 0: children left but none exited; ECHILD: no children
        }
    }

    /// Blocks until `pid` exits and returns how. For tests and for paths that
    /// know the process is already dying; the agent's loop uses `reapAll`.
    /// The corresponding C call is waitpid(2).
    public static func wait(for pid: Int32) throws(SystemError) -> Termination {
        var status: Int32 = 0
        _ = try retryingEINTR("waitpid(\(pid))") { waitpid(pid, &status, 0) }
        return termination(status)
    }

    /// prctl(PR_SET_CHILD_SUBREAPER): orphaned grandchildren come to us, not
    /// to init, so we can reap them.
    public static func becomeSubreaper() throws(SystemError) {
        _ = try retryingEINTR("prctl(PR_SET_CHILD_SUBREAPER)") { pipe_become_subreaper() }
    }

    /// Decodes a waitpid status. Must go through C: W* are macros.
    static func termination(_ status: Int32) -> Termination {
        if pipe_wifsignaled(status) != 0 { return .signaled(signal: pipe_wtermsig(status)) }
        return .exited(code: pipe_wexitstatus(status))
    }
}
