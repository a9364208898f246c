import Testing

@testable import PipeCore

/// Finished shared runs kept for their readers, bounded per owner
/// (max_per_user) and in all (max_running): the attack is one user starting
/// many short shared runs, each keeping its whole buffer until retain ends.
struct RetainedRunsTests {
    static func run(_ instance: Int32, _ owner: UInt32?, _ second: UInt64) -> RetainedRun {
        RetainedRun(instance: instance, owner: owner, finishedAt: Instant(nanoseconds: second * 1_000_000_000))
    }

    @Test(
        arguments: [
            // Within both bounds: nothing goes.
            ([run(1, 1000, 1), run(2, 1000, 2), run(3, 1001, 3)], 2, 10, [] as [Int32]),
            // One owner past max_per_user: its oldest go, another owner's runs stay.
            ([run(1, 1000, 1), run(2, 1000, 2), run(3, 1000, 3), run(4, 1001, 0)], 2, 10, [1]),
            ([run(5, 1000, 5), run(1, 1000, 1), run(3, 1000, 3), run(2, 1000, 2)], 1, 10, [1, 2, 3]),
            // Past max_running in all: the oldest of anyone's go.
            ([run(1, 1000, 1), run(2, 1001, 2), run(3, 1002, 3)], 8, 2, [1]),
            // Both: per owner first, then the oldest of what is left.
            ([run(1, 1000, 1), run(2, 1000, 2), run(3, 1000, 3), run(4, 1001, 4), run(5, 1002, 5)], 2, 3, [1, 2]),
            // Autostart runs (no owner) count as one owner.
            ([run(1, nil, 1), run(2, nil, 2), run(3, 1000, 3)], 1, 10, [1]),
            // Ties in finishing time go by instance.
            ([run(7, 1000, 1), run(6, 1000, 1)], 1, 10, [6]),
            ([], 1, 1, []),
        ] as [([RetainedRun], Int, Int, [Int32])])
    func theOldestFinishedRunsBeyondTheBoundsGo(
        _ runs: [RetainedRun], _ perOwner: Int, _ overall: Int, _ culled: [Int32]
    ) {
        let culls = RetainedRun.toCull(runs, maxPerOwner: perOwner, maxOverall: overall)
        #expect(culls.map(\.run.instance) == culled)
        let kept = runs.filter { run in !culled.contains(run.instance) }
        #expect(kept.count <= overall)
        for owner in Set(kept.map(\.owner)) { #expect(kept.filter { $0.owner == owner }.count <= perOwner) }
    }

    @Test func theReasonNamesTheBound() {
        let culls = RetainedRun.toCull(
            [Self.run(1, 1000, 1), Self.run(2, 1000, 2), Self.run(3, 1001, 3)], maxPerOwner: 1, maxOverall: 1)
        #expect(
            culls.map(\.reason) == [
                "more than 1 finished runs of its owner are kept (max_per_user)",
                "more than 1 finished runs are kept in all (max_running)",
            ])
    }
}
