import Testing

@testable import PipeCore

private func admit(_ limiter: inout RefusalLimiter, _ uid: UInt32?, _ seconds: Double) -> Bool {
    limiter.admit(uid: uid, now: Instant(nanoseconds: UInt64(seconds * 1e9)))
}

struct RefusalLimiterTests {
    static func at(_ seconds: Double) -> Instant { Instant(nanoseconds: UInt64(seconds * 1e9)) }

    @Test func eachUserGetsABurstThenACountAtTheEndOfTheWindow() {
        var limiter = RefusalLimiter(burst: 2, window: .seconds(10))
        #expect(admit(&limiter, 1000, 0))
        #expect(admit(&limiter, 1000, 1))
        for second in 2..<9 { #expect(!admit(&limiter, 1000, Double(second))) }
        #expect(admit(&limiter, 1001, 3), "another user has a burst of its own")
        #expect(admit(&limiter, nil, 3), "so do clients without credentials, together")
        #expect(limiter.nextDeadline == Self.at(10))
        #expect(limiter.closed(now: Self.at(9)).isEmpty)
        let summaries = limiter.closed(now: Self.at(10))
        #expect(summaries.count == 1)
        #expect(
            summaries.first?.uid == 1000 && summaries.first?.suppressed == 7 && summaries.first?.over == .seconds(10))
        #expect(admit(&limiter, 1000, 11), "a new window starts")
    }

    @Test func aWindowWithNothingSuppressedReportsNothing() {
        var limiter = RefusalLimiter(burst: 5, window: .seconds(10))
        _ = admit(&limiter, 7, 0)
        #expect(limiter.nextDeadline == nil)
        #expect(limiter.closed(now: Self.at(20)).isEmpty)
        #expect(admit(&limiter, 7, 20))
    }

    @Test func auditValuesAreCappedWithANote() {
        let long = String(repeating: "é", count: 300)
        let capped = AuditRecord.capped(long)
        #expect(capped.hasPrefix(String(repeating: "é", count: 128)))
        #expect(capped.hasSuffix("...(344 more bytes)"))
        var record = AuditRecord(
            time: .zero, context: 1, instance: "x",
            parameters: (1...20).map(String.init), decision: .refused("no"))
        record.authentication = "sasl"
        #expect(record.logLine.contains(" auth=sasl "))
        #expect(record.logLine.contains("param16=16 unlogged=4"))
        #expect(!record.logLine.contains("param17"))
    }
}
