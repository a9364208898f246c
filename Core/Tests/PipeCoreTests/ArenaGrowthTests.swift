import Testing

@testable import PipeCore

/// How record arenas grow: geometric, bounded near the owner's capacity,
/// and never into a run of whole-arena copies (each line copying everything
/// before it froze the agent for seconds on a 200,000-line run of `seq`).
@Suite struct ArenaGrowthTests {
    /// Follows one arena as the owners use it: records of `recordSize`
    /// bytes are appended; `consume` of them leave the front before each
    /// append (a reader taking them, or a full shared buffer evicting);
    /// compaction moves the rest to the front when they fill at most three
    /// quarters of the arena. Returns how many times the arena was replaced
    /// or compacted, and its largest size.
    private func simulate(records: Int, recordSize: Int, bound: Int, keepAtMost: Int? = nil)
        -> (relocations: Int, copiedBytes: Int, largest: Int)
    {
        var arena = 0
        var head = 0
        var tail = 0
        var relocations = 0
        var copied = 0
        var largest = 0
        for _ in 0..<records {
            if let keepAtMost, tail - head + recordSize > keepAtMost { head += recordSize }
            if tail + recordSize > arena {
                let live = tail - head
                relocations += 1
                copied += live
                if live + recordSize > arena * 3 / 4 {
                    arena = ArenaStorage.grownCapacity(
                        current: arena, minimum: 4096, live: live,
                        adding: recordSize, bound: bound)
                }
                head = 0
                tail = live
            }
            tail += recordSize
            largest = max(largest, arena)
        }
        return (relocations, copied, largest)
    }

    @Test(arguments: [(24, 64 << 10), (32, 2 << 20), (8 << 20, 16 << 20 + 4096)])
    func aQueueFilledPastItsBoundGrowsGeometrically(recordSize: Int, bound: Int) {
        // A blocked queue can hold more record bytes than its bound counts:
        // short lines are stored bigger than they are counted, and a whole
        // pipe read lands after the queue is full. Here: five times the bound.
        let records = max(8, 5 * bound / recordSize)
        let result = simulate(records: records, recordSize: recordSize, bound: bound)
        #expect(result.relocations <= 40, "\(result.relocations) relocations for \(records) records")
        #expect(result.copiedBytes <= 4 * records * recordSize, "copied \(result.copiedBytes) bytes")
    }

    @Test func aFullQueueCostsAboutItsBound() {
        // Records counted exactly as stored, filled to the bound plus one.
        let bound = 2 << 20
        let result = simulate(records: bound / 64 + 1, recordSize: 64, bound: bound)
        #expect(result.largest <= bound + bound / 2 + 64, "arena \(result.largest) for a bound of \(bound)")
    }

    @Test(arguments: [24, 40, 4096])
    func aFullRingThatEvictsCopiesAFewTimesEachByteAtMost(recordSize: Int) {
        // A shared run's buffer in steady state: full, one line out per line in.
        let bound = 4 << 20
        let records = 20 * bound / recordSize
        let result = simulate(records: records, recordSize: recordSize, bound: bound, keepAtMost: bound * 3 / 2)
        #expect(result.copiedBytes <= 3 * records * recordSize, "copied \(result.copiedBytes) bytes")
        #expect(result.largest <= 3 * bound, "arena \(result.largest) for a bound of \(bound)")
    }
}
