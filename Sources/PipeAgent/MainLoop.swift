import CPCP
import PipeCore
import PipeSystem

extension Agent {
    /// Serves pmcd until it goes away or we are told to stop. Sleeps in poll(2)
    /// on pmcd's pipe, a signalfd, the pin worker's notifications, the output
    /// pipes of runs whose client has room, and the nearest deadline: an idle
    /// agent never wakes up.
    func serve(dispatch: UnsafeMutablePointer<pmdaInterface>, signals: SignalFD) {
        let pmcd = FileDescriptor(rawValue: __pmdaInFd(dispatch))
        guard pmcd.rawValue >= 0 else {
            Log.error("no connection to pmcd")
            return
        }
        let pmcdToken = -1
        let signalToken = -2
        let pinsToken = -3
        var watched: [(run: Run, stream: StreamKind)] = []
        while true {
            var poll = PollSet()
            poll.add(pmcd, token: pmcdToken)
            poll.add(signals.descriptor, token: signalToken)
            poll.add(pins.notification.descriptor, token: pinsToken)
            watched.removeAll(keepingCapacity: true)
            for run in runs.values where !run.detached && run.wantsInput {
                if let fd = run.stdout {
                    poll.add(fd, token: watched.count)
                    watched.append((run, .stdout))
                }
                if let fd = run.stderr {
                    poll.add(fd, token: watched.count)
                    watched.append((run, .stderr))
                }
            }
            let ready: [Int]
            do {
                ready = try poll.wait(timeoutMilliseconds: pollTimeout())
            } catch {
                Log.error("poll failed: \(error)")
                shutdown(signals: signals)
                return
            }
            // Output first, so that a fetch in this same turn sees the newest lines.
            for token in ready where token >= 0 {
                readOutput(watched[token].run, watched[token].stream)
            }
            if ready.contains(pinsToken) {
                pins.collect()
                reportPinMismatches()
            }
            if ready.contains(signalToken) {
                for received in signals.drain() {
                    switch Signal(rawValue: received) {
                    case .childExited:
                        reapChildren()
                    case .hangup:
                        reload()
                    default:
                        Log.info("signal \(received): stopping all commands and exiting")
                        shutdown(signals: signals)
                        return
                    }
                }
            }
            let now = Clock.monotonic()
            runTimers(now: now)
            checkProcessesGone(now: now)
            if ready.contains(pmcdToken) {
                let status = __pmdaMainPDU(dispatch)
                arrays.endPDU()
                if status < 0 {
                    Log.info("pmcd closed the connection: stopping all commands and exiting")
                    shutdown(signals: signals)
                    return
                }
                if runs.isEmpty && idleTrimAt == nil { idleTrimAt = Clock.monotonic() + .seconds(2) }
            }
        }
    }

    /// Milliseconds until the next deadline, or -1 for none.
    private func pollTimeout() -> Int32 {
        guard let next = nextDeadline() else { return -1 }
        let now = Clock.monotonic()
        if next <= now { return 0 }
        return Int32(min((next.nanoseconds - now.nanoseconds) / 1_000_000 + 1, 60_000))
    }
}
