#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The termination signal pmpipe caught, if any. An atomic store is all the
/// handler does, which is async-signal-safe.
private let caughtSignal = Atomic<Int32>(0)

/// Ctrl-C, SIGTERM and SIGHUP end a run cleanly: the handler only records
/// the signal; the main loop sees it between fetches (sleeps and pmFetch's
/// waits end with EINTR, as the handler is installed without SA_RESTART),
/// disconnects so the agent stops the command, and exits 128+signal.
/// SIGPIPE is ignored so a closed stdout shows up as EPIPE from write(2).
public enum TerminationSignals {
    public static func install() {
        _ = caughtSignal.load(ordering: .relaxed)   // initialise before any handler can run
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { caughtSignal.store($0, ordering: .relaxed) }
            #else
            action.__sigaction_u.__sa_handler = { caughtSignal.store($0, ordering: .relaxed) }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
        // A blocked signal never reaches the handler, and a parent can hand us
        // a mask that blocks them (seen with processes started by Foundation's
        // Process): unblock the ones that must end a run.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, sig) }
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
    }

    /// The signal caught so far, or nil.
    public static var caught: Int32? {
        let sig = caughtSignal.load(ordering: .relaxed)
        return sig == 0 ? nil : sig
    }

    /// Sleeps up to `microseconds`; returns early when a signal arrives.
    public static func sleep(microseconds: Int64) {
        guard caught == nil else { return }
        var request = timespec(tv_sec: Int(microseconds / 1_000_000), tv_nsec: Int(microseconds % 1_000_000) * 1000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR && caught == nil {
            request = remaining
        }
    }
}
