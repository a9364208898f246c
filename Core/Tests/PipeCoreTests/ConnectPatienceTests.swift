import PipeCore
import Testing

@Suite struct ConnectPatienceTests {
    let patience = ConnectPatience(limit: .seconds(5))

    @Test func pausesDoubleFromFiveMillisecondsUpToATenthOfASecond() {
        let pauses = (1...8).map { patience.pause(afterFailures: $0, elapsed: .zero, spread: 1) }
        #expect(pauses == [5, 10, 20, 40, 80, 100, 100, 100].map { .milliseconds($0) })
    }

    @Test func theSpreadPicksBetweenHalfAndAllOfThePause() {
        #expect(patience.pause(afterFailures: 3, elapsed: .zero, spread: 0) == .milliseconds(10))
        #expect(patience.pause(afterFailures: 3, elapsed: .zero, spread: 0.5) == .milliseconds(15))
        #expect(patience.pause(afterFailures: 6, elapsed: .zero, spread: 0.999)! > .milliseconds(99))
        // Out-of-range spreads are clamped, never a negative or doubled pause.
        #expect(patience.pause(afterFailures: 1, elapsed: .zero, spread: -3) == .microseconds(2500))
        #expect(patience.pause(afterFailures: 1, elapsed: .zero, spread: 7) == .milliseconds(5))
    }

    @Test func theLastPauseEndsAtTheLimitAndThenItGivesUp() {
        #expect(patience.pause(afterFailures: 40, elapsed: .milliseconds(4_970), spread: 1) == .milliseconds(30))
        #expect(patience.pause(afterFailures: 41, elapsed: .seconds(5), spread: 1) == nil)
        #expect(patience.pause(afterFailures: 41, elapsed: .seconds(9), spread: 1) == nil)
        #expect(patience.pause(afterFailures: 0, elapsed: .zero, spread: 1) == nil, "no failure, nothing to wait for")
        #expect(patience.pause(afterFailures: Int.max, elapsed: .zero, spread: 1) == .milliseconds(100))
    }

    @Test func attemptsCoverTheWholeLimit() {
        // Failing all the time: the attempts go on until the limit, about
        // 50 of them for 5 s (not 20 in 1.5 s, which a burst of 100 clients
        // outlasted), and the last one is made at the limit.
        var elapsed = Duration.zero
        var attempts = 1
        while let pause = patience.pause(afterFailures: attempts, elapsed: elapsed, spread: 1) {
            elapsed += pause
            attempts += 1
        }
        #expect(elapsed == .seconds(5))
        #expect(attempts > 45 && attempts < 60, "\(attempts) attempts")
    }

    @Test func libpcpsConnectTimeoutSetsTheLimit() {
        #expect(ConnectPatience(connectTimeoutSeconds: 5).limit == .seconds(5))
        #expect(ConnectPatience(connectTimeoutSeconds: 0.25).limit == .milliseconds(250))
        #expect(
            ConnectPatience(connectTimeoutSeconds: 0).limit == ConnectPatience.defaultLimit, "libpcp's 0 means no limit"
        )
        #expect(ConnectPatience(connectTimeoutSeconds: -1).limit == ConnectPatience.defaultLimit)
        #expect(ConnectPatience(connectTimeoutSeconds: .nan).limit == ConnectPatience.defaultLimit)
        #expect(ConnectPatience(connectTimeoutSeconds: .infinity).limit == ConnectPatience.defaultLimit)
        #expect(ConnectPatience(connectTimeoutSeconds: 1e300).limit == .seconds(86_400))
    }

    @Test func theSocketPathIsReadAsLibpcpReadsIt() {
        let fallback = "/run/pcp/pmcd.socket"
        #expect(ConnectPatience.unixSocketPath(of: "unix:", defaultPath: fallback) == fallback)
        #expect(ConnectPatience.unixSocketPath(of: "local:", defaultPath: fallback) == fallback)
        #expect(ConnectPatience.unixSocketPath(of: "unix://", defaultPath: fallback) == fallback)
        #expect(ConnectPatience.unixSocketPath(of: "unix:?compress=true", defaultPath: fallback) == fallback)
        #expect(ConnectPatience.unixSocketPath(of: "unix:/tmp/p.sock", defaultPath: fallback) == "/tmp/p.sock")
        #expect(ConnectPatience.unixSocketPath(of: "unix://tmp/p.sock", defaultPath: fallback) == "/tmp/p.sock")
        #expect(
            ConnectPatience.unixSocketPath(of: "local://tmp/p.sock:?user=x", defaultPath: fallback) == "/tmp/p.sock")
        #expect(ConnectPatience.unixSocketPath(of: "unix:tmp/p.sock", defaultPath: fallback) == "/tmp/p.sock")
        #expect(ConnectPatience.unixSocketPath(of: "localhost", defaultPath: fallback) == nil)
        #expect(ConnectPatience.unixSocketPath(of: "pcp://localhost?username=bob", defaultPath: fallback) == nil)
        #expect(ConnectPatience.unixSocketPath(of: "db1:44321", defaultPath: fallback) == nil)
    }

    @Test func localMeansTheUnixSocketWhileItIsThere() {
        #expect(ConnectPatience.connectionSpec(for: "local:", socketExists: true) == "unix:")
        #expect(
            ConnectPatience.connectionSpec(for: "local://tmp/p.sock?compress=true", socketExists: true)
                == "unix://tmp/p.sock?compress=true")
        #expect(
            ConnectPatience.connectionSpec(for: "local:", socketExists: false) == "local:", "then TCP, as libpcp does")
        for spec in ["unix:", "localhost", "pcp://h?username=bob", "unix:/tmp/p.sock"] {
            #expect(ConnectPatience.connectionSpec(for: spec, socketExists: true) == spec)
            #expect(ConnectPatience.connectionSpec(for: spec, socketExists: false) == spec)
        }
    }
}
