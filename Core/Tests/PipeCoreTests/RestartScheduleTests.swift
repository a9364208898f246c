import PipeCore
import Testing

@Suite struct RestartScheduleTests {
    func at(_ seconds: Double) -> Instant { Instant(nanoseconds: UInt64(seconds * 1e9)) }

    @Test func aCrashingRunBacksOffDoublingUpToAMinute() {
        var schedule = RestartSchedule()
        var now = 0.0
        var waits: [Double] = []
        for _ in 0..<9 {
            #expect(schedule.mayStart("a", now: at(now)))
            schedule.started("a")
            now += 0.1
            schedule.ended("a", after: .milliseconds(100), now: at(now))
            let due = schedule.nextDue!
            waits.append((Double(due.nanoseconds) - now * 1e9) / 1e9)
            #expect(!schedule.mayStart("a", now: at(now)))
            now = Double(due.nanoseconds) / 1e9
        }
        #expect(waits.map { $0.rounded() } == [1, 2, 4, 8, 16, 32, 60, 60, 60])
    }

    @Test func aRunThatLastedAMinuteRestartsAfterTheFirstBackoff() {
        var schedule = RestartSchedule()
        schedule.failedToStart("a", now: at(0))
        schedule.failedToStart("a", now: at(1))
        schedule.ended("a", after: .seconds(61), now: at(100))
        #expect(schedule.nextDue == at(101))
    }

    @Test func takenOutOfAutostartAndPutBackItStartsAtOnce() {
        var schedule = RestartSchedule()
        schedule.started("a")
        schedule.ended("a", after: .seconds(1), now: at(10))
        schedule.notAutostart("a")
        #expect(schedule.mayStart("a", now: at(10)))
        #expect(schedule.nextDue == nil && !schedule.anyDue(now: at(1000)))
    }

    @Test func aRunningCommandIsNotDueAndOthersKeepTheirOwnBackoff() {
        var schedule = RestartSchedule()
        schedule.failedToStart("b", now: at(0))
        schedule.started("a")
        #expect(schedule.mayStart("a", now: at(0)))
        #expect(!schedule.anyDue(now: at(0.5)) && schedule.anyDue(now: at(1)))
        #expect(schedule.nextDue == at(1))
    }
}
