import PipeCore
import Testing

@Suite struct AdmissionTests {
    /// A run already going: (instance, uid).
    typealias Run = (instance: String, uid: UInt32)

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var running: [Run]
        var instance: String
        var uid: UInt32
        var limits: AdmissionLimits
        var privileged = false
        var refusal: String?

        init(
            name: String, running: [Run], instance: String, uid: UInt32, limits: AdmissionLimits,
            privileged: Bool = false, refusal: String?
        ) {
            (self.name, self.running, self.instance, self.uid) = (name, running, instance, uid)
            (self.limits, self.privileged, self.refusal) = (limits, privileged, refusal)
        }

        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "nothing running", running: [], instance: "ls", uid: 1000,
            limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8), refusal: nil),
        Case(
            name: "agent-wide limit reached",
            running: Array(repeating: ("ls", 1), count: 64),
            instance: "ls", uid: 1000, limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8),
            refusal: "too many commands running: 64 of 64 allowed"),
        Case(
            name: "one below the agent-wide limit",
            running: Array(repeating: ("ls", 1), count: 63),
            instance: "ls", uid: 1000, limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8), refusal: nil),
        Case(
            name: "per-user limit counts every instance",
            running: Array(repeating: ("ls", 1000), count: 4) + Array(repeating: ("df", 1000), count: 4),
            instance: "du", uid: 1000, limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8),
            refusal: "user 1000 already runs 8 commands (limit 8)"),
        Case(
            name: "other users do not count against a user",
            running: Array(repeating: ("ls", 1001), count: 8),
            instance: "ls", uid: 1000, limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8), refusal: nil),
        Case(
            name: "instance limit counts every user",
            running: [("bdev_trace", 1000), ("bdev_trace", 1001)],
            instance: "bdev_trace", uid: 1002,
            limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8, instanceMaxRunning: 2),
            refusal: "instance bdev_trace already has 2 runs (limit 2)"),
        Case(
            name: "instance limit ignores other instances",
            running: [("ls", 1000), ("ls", 1001)],
            instance: "bdev_trace", uid: 1002,
            limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8, instanceMaxRunning: 2), refusal: nil),
        Case(
            name: "instance per-user limit",
            running: [("bdev_trace", 1000)],
            instance: "bdev_trace", uid: 1000,
            limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8, instanceMaxRunning: 2, instanceMaxPerUser: 1),
            refusal: "user 1000 already runs bdev_trace 1 time (limit 1 per user)"),
        Case(
            name: "instance per-user limit lets another user in",
            running: [("bdev_trace", 1000)],
            instance: "bdev_trace", uid: 1001,
            limits: AdmissionLimits(maxRunning: 64, maxPerUser: 8, instanceMaxRunning: 2, instanceMaxPerUser: 1),
            refusal: nil),
        Case(
            name: "the broadest limit reached is named",
            running: Array(repeating: ("bdev_trace", 1000), count: 2),
            instance: "bdev_trace", uid: 1000,
            limits: AdmissionLimits(maxRunning: 2, maxPerUser: 2, instanceMaxRunning: 2, instanceMaxPerUser: 2),
            refusal: "too many commands running: 2 of 2 allowed"),
        Case(
            name: "a limit lowered below the running count",
            running: Array(repeating: ("ls", 1000), count: 3),
            instance: "ls", uid: 1000, limits: AdmissionLimits(maxRunning: 64, maxPerUser: 1),
            refusal: "user 1000 already runs 3 commands (limit 1)"),
        Case(
            name: "a zero limit refuses everything",
            running: [], instance: "ls", uid: 0, limits: AdmissionLimits(maxRunning: 0, maxPerUser: 8),
            refusal: "too many commands running: 0 of 0 allowed"),
        // The reserve: users together (each within their own limit) cannot
        // take the last runs, so root can always still stop or inspect.
        Case(
            name: "users together reach the unreserved runs",
            running: [("ls", 1000), ("ls", 1001), ("ls", 1002)],
            instance: "ls", uid: 1003, limits: AdmissionLimits(maxRunning: 4, maxPerUser: 8, reserved: 1),
            refusal: "too many commands running: 3 of 4, and the last 1 are kept for root"),
        Case(
            name: "root uses the reserve",
            running: [("ls", 1000), ("ls", 1001), ("ls", 1002)],
            instance: "ls", uid: 0, limits: AdmissionLimits(maxRunning: 4, maxPerUser: 8, reserved: 1),
            privileged: true, refusal: nil),
        Case(
            name: "the reserve has an end too",
            running: [("ls", 1000), ("ls", 1001), ("ls", 1002), ("ls", 0)],
            instance: "ls", uid: 0, limits: AdmissionLimits(maxRunning: 4, maxPerUser: 8, reserved: 1),
            privileged: true, refusal: "too many commands running: 4 of 4 allowed"),
        Case(
            name: "below the reserve users are let in",
            running: [("ls", 1000), ("ls", 1001)],
            instance: "ls", uid: 1003, limits: AdmissionLimits(maxRunning: 4, maxPerUser: 8, reserved: 1),
            refusal: nil),
    ]

    @Test(arguments: cases)
    func check(_ test: Case) {
        var admission = Admission()
        for run in test.running { admission.started(instance: run.instance, uid: run.uid) }
        #expect(
            admission.check(
                instance: test.instance, uid: test.uid, limits: test.limits,
                privileged: test.privileged)?.description == test.refusal)
    }

    @Test func theDefaultReserveIsAQuarterOfTheRunsUpToFour() {
        #expect([64, 16, 8, 7, 4, 3, 1].map { GlobalLimits(maxRunning: $0).reserved } == [4, 4, 2, 1, 1, 0, 0])
        var limits = GlobalLimits(maxRunning: 64)
        limits.reserved = 0
        #expect(limits.reserved == 0, "reserved = 0 turns it off")
    }

    @Test func countsFollowStartsAndEnds() {
        var admission = Admission()
        admission.started(instance: "ls", uid: 1000)
        admission.started(instance: "ls", uid: 1001)
        admission.started(instance: "df", uid: 1000)
        #expect(admission.running == 3)
        #expect(admission.running(instance: "ls") == 2)
        #expect(admission.running(uid: 1000) == 2)
        #expect(admission.running(instance: "ls", uid: 1000) == 1)
        admission.ended(instance: "ls", uid: 1000)
        #expect(admission.running == 2)
        #expect(admission.running(instance: "ls") == 1)
        #expect(admission.running(uid: 1000) == 1)
        #expect(admission.running(instance: "ls", uid: 1000) == 0)
        admission.ended(instance: "ls", uid: 1001)
        admission.ended(instance: "df", uid: 1000)
        #expect(admission.running == 0)
        #expect(admission.running(instance: "nothing") == 0)
    }

    @Test func anEndedRunFreesItsPlace() {
        var admission = Admission()
        let limits = AdmissionLimits(maxRunning: 1, maxPerUser: 1)
        admission.started(instance: "ls", uid: 1000)
        #expect(admission.check(instance: "ls", uid: 1000, limits: limits) != nil)
        admission.ended(instance: "ls", uid: 1000)
        #expect(admission.check(instance: "ls", uid: 1000, limits: limits) == nil)
    }

    @Test func refusalsCarryTheirNumbers() {
        var admission = Admission()
        admission.started(instance: "ls", uid: 7)
        let refusal = admission.check(instance: "ls", uid: 7, limits: AdmissionLimits(maxRunning: 9, maxPerUser: 1))
        #expect(refusal == AdmissionRefusal(.user(uid: 7, running: 1, limit: 1)))
        #expect(refusal?.description == "user 7 already runs 1 command (limit 1)")
    }
}
