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
}
