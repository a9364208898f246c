import PipeCore
import Testing

@Suite struct BatchLimitsTests {
    let limits = BatchLimits()

    @Test func aFirstOrOccasionalFetchGetsAQueuesWorth() {
        #expect(limits.limits(sincePrevious: nil) == (65536, 2 << 20))
        #expect(limits.limits(sincePrevious: 1_000_000_000) == (65536, 2 << 20))
        #expect(limits.limits(sincePrevious: 20_000_000) == (65536, 2 << 20))
    }

    @Test func aClientBackAtOnceGetsSmallerBatches() {
        #expect(limits.limits(sincePrevious: 0) == (16384, 512 << 10))
        #expect(limits.limits(sincePrevious: 19_999_999) == (16384, 512 << 10))
    }

    /// Copies of one metric in a fetch share one batch: the reply stays one
    /// batch in all, and each copy still gets at least one record.
    @Test(arguments: [
        (1, 65536, 2 << 20), (2, 32768, 1 << 20), (8, 8192, 256 << 10), (0, 65536, 2 << 20),
    ])
    func copiesOfAMetricShareOneBatch(_ copies: Int, _ records: Int, _ bytes: Int) {
        #expect(BatchLimits.share(limits.limits(sincePrevious: nil), among: copies) == (records, bytes))
    }

    @Test func aShareIsNeverEmpty() {
        #expect(BatchLimits.share((3, 5), among: 8) == (1, 1))
    }
}
