import Testing

@testable import PipeCore

/// The run state machine, driven step by step with a made-up clock.
struct RunLifecycleTests {
    static func at(_ seconds: Double) -> Instant { Instant(nanoseconds: UInt64(seconds * 1e9)) }

    func lifecycle(timeLimit: Duration? = nil, grace: Duration = .seconds(3), idle: Duration? = nil) -> RunLifecycle {
        RunLifecycle(settings: .init(timeLimit: timeLimit, grace: grace, idleLimit: idle), startedAt: Self.at(0))
    }

    @Test func aCommandThatExitsAloneFinishesOnceItsPipesEndAndNothingIsLeft() {
        var run = lifecycle()
        #expect(run.advance(now: Self.at(1), event: .streamClosed(.stdout)) == [])
        #expect(run.advance(now: Self.at(1), event: .processesGone) == [])
        #expect(run.advance(now: Self.at(1), event: .mainExited(.exited(code: 0))) == [])
        #expect(run.advance(now: Self.at(1), event: .streamClosed(.stderr)) == [.finish])
        #expect(run.phase == .finished)
        #expect(run.endReason == "exited")
        #expect(run.nextDeadline == nil)
    }

    /// `setsid sleep 40 &` then exit: the leftovers belong to the run and
    /// are stopped with it, SIGTERM then SIGKILL after the grace period.
    @Test func whatTheCommandLeavesBehindIsStoppedWithinTheGracePeriod() {
        var run = lifecycle(grace: .seconds(2))
        #expect(run.advance(now: Self.at(1), event: .mainExited(.exited(code: 0))) == [.signalAll(.terminate)])
        #expect(run.phase == .draining)
        #expect(run.nextDeadline == Self.at(3))
        #expect(run.advance(now: Self.at(2), event: .tick) == [])
        #expect(run.advance(now: Self.at(3), event: .tick) == [.killAll])
        #expect(run.advance(now: Self.at(3.1), event: .processesGone) == [])
        #expect(run.advance(now: Self.at(3.1), event: .streamClosed(.stdout)) == [])
        #expect(run.advance(now: Self.at(3.1), event: .streamClosed(.stderr)) == [.finish])
    }

    @Test func leftoversThatLeaveOnSIGTERMNeedNoSIGKILL() {
        var run = lifecycle()
        #expect(run.advance(now: Self.at(1), event: .mainExited(.exited(code: 0))) == [.signalAll(.terminate)])
        #expect(run.advance(now: Self.at(1.2), event: .processesGone) == [])
        #expect(run.nextDeadline == nil)
        _ = run.advance(now: Self.at(1.2), event: .streamClosed(.stdout))
        #expect(run.advance(now: Self.at(1.2), event: .streamClosed(.stderr)) == [.finish])
    }

    @Test func aTimeLimitStopsEveryProcessEvenAfterTheFirstExited() {
        var run = lifecycle(timeLimit: .seconds(3), grace: .seconds(1))
        #expect(run.nextDeadline == Self.at(3))
        #expect(run.advance(now: Self.at(3), event: .tick) == [.signalAll(.terminate)])
        #expect(run.phase == .stopping)
        #expect(run.endReason == "stopped: time limit 3s reached")
        #expect(run.advance(now: Self.at(3.5), event: .mainExited(.signaled(signal: 15))) == [])
        #expect(run.advance(now: Self.at(4), event: .tick) == [.killAll])
        #expect(run.advance(now: Self.at(4), event: .processesGone) == [])
        _ = run.advance(now: Self.at(4), event: .streamClosed(.stdout))
        #expect(run.advance(now: Self.at(4), event: .streamClosed(.stderr)) == [.finish])
    }

    @Test func aGoneClientClosesThePipesAndStopsTheRun() {
        var run = lifecycle(grace: .seconds(3))
        #expect(run.advance(now: Self.at(1), event: .stop(.clientGone)) == [.closePipes, .signalAll(.terminate)])
        #expect(!run.stdoutOpen && !run.stderrOpen)
        #expect(run.advance(now: Self.at(1.1), event: .mainExited(.signaled(signal: 13))) == [])
        #expect(run.advance(now: Self.at(1.1), event: .processesGone) == [.finish])
        #expect(run.endReason == "stopped: client disconnected")
    }

    /// A client that stores and never fetches: the command blocks on its
    /// full queue, and after idle_timeout it is stopped.
    @Test func anUnfetchedRunBlockedOnAFullQueueIsStoppedAfterTheIdleLimit() {
        var run = lifecycle(idle: .seconds(60))
        #expect(run.nextDeadline == nil, "no idle deadline while the queue has room")
        _ = run.advance(now: Self.at(5), event: .queueFull(true))
        #expect(run.nextDeadline == Self.at(65))
        _ = run.advance(now: Self.at(30), event: .fetched)
        _ = run.advance(now: Self.at(30), event: .queueFull(true))
        #expect(run.nextDeadline == Self.at(90), "a fetch restarts the wait")
        _ = run.advance(now: Self.at(40), event: .queueFull(false))
        #expect(run.nextDeadline == nil)
        _ = run.advance(now: Self.at(50), event: .queueFull(true))
        #expect(run.advance(now: Self.at(109), event: .tick) == [])
        #expect(run.advance(now: Self.at(110), event: .tick) == [.signalAll(.terminate)])
        #expect(run.stopReason == .idleLimit(.seconds(60)))
    }

    /// The stopped command is gone but its pipes still hold what nobody
    /// fetched: after another idle period they are given up and the run ends.
    @Test func anAbandonedQueueDoesNotKeepAStoppedRunForever() {
        var run = lifecycle(grace: .seconds(3), idle: .seconds(2))
        _ = run.advance(now: Self.at(1), event: .queueFull(true))
        #expect(run.advance(now: Self.at(3), event: .tick) == [.signalAll(.terminate)])
        _ = run.advance(now: Self.at(3.1), event: .mainExited(.signaled(signal: 15)))
        #expect(run.advance(now: Self.at(3.1), event: .processesGone) == [])
        #expect(run.nextDeadline == Self.at(3), "due at once: nothing can write any more and nobody reads")
        #expect(run.advance(now: Self.at(3.1), event: .tick) == [.closePipes, .finish])
        #expect(run.endReason == "stopped: nothing fetched for 2s while the command waited on a full queue")
    }

    /// Without a cgroup the agent may never learn that the last process is
    /// gone: one second after SIGKILL it closes the pipes and ends the run.
    @Test func afterSIGKILLTheRunStopsWaitingForWhatItCannotSee() {
        var run = lifecycle(timeLimit: .seconds(1), grace: .zero)
        #expect(run.advance(now: Self.at(1), event: .tick) == [.signalAll(.terminate), .killAll])
        #expect(run.advance(now: Self.at(1.1), event: .mainExited(.signaled(signal: 9))) == [])
        #expect(run.nextDeadline == Self.at(2))
        #expect(run.advance(now: Self.at(2), event: .tick) == [.closePipes, .finish])
    }

    @Test func shutdownStopsAndKillsAfterTheGrace() {
        var run = lifecycle(grace: .milliseconds(500))
        #expect(run.advance(now: Self.at(1), event: .stop(.agentShutdown)) == [.closePipes, .signalAll(.terminate)])
        #expect(run.advance(now: Self.at(1.5), event: .tick) == [.killAll])
        _ = run.advance(now: Self.at(1.5), event: .mainExited(.signaled(signal: 9)))
        #expect(run.advance(now: Self.at(1.5), event: .processesGone) == [.finish])
    }

    @Test func aSecondStopKeepsTheFirstReasonAndDoesNotSignalAgain() {
        var run = lifecycle()
        _ = run.advance(now: Self.at(1), event: .stop(.outputLimit(ByteCount(bytes: 1024))))
        #expect(run.advance(now: Self.at(1.5), event: .stop(.clientGone)) == [.closePipes])
        #expect(run.stopReason == .outputLimit(ByteCount(bytes: 1024)))
        #expect(run.endReason == "stopped: output limit 1k reached")
    }

    @Test func aFinishedRunIgnoresEverything() {
        var run = lifecycle()
        _ = run.advance(now: Self.at(1), event: .processesGone)
        _ = run.advance(now: Self.at(1), event: .mainExited(.exited(code: 3)))
        _ = run.advance(now: Self.at(1), event: .streamClosed(.stdout))
        #expect(run.advance(now: Self.at(1), event: .streamClosed(.stderr)) == [.finish])
        #expect(run.advance(now: Self.at(9), event: .stop(.clientGone)) == [])
        #expect(run.advance(now: Self.at(9), event: .tick) == [])
    }

    @Test(arguments: [
        (Duration.milliseconds(500), "500ms"), (.seconds(3), "3s"), (.seconds(90), "90s"),
        (.seconds(300), "5m"), (.seconds(7200), "2h"), (.milliseconds(1500), "1500ms"),
    ])
    func durationsAreWrittenAsTheConfigurationWouldSpellThem(_ duration: Duration, _ text: String) {
        #expect(ConfigText.durationText(duration) == text)
    }
}
