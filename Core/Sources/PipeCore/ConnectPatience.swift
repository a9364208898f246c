// Why a client connecting to pmcd's unix socket has to try again:
//
// pmcd listens with a queue of 5 pending connections (pmcd.c: MAXPENDING,
// PMCD_MAXPENDING in /etc/default/pmcd) and accepts one per turn of its main
// loop. libpcp connects without blocking (auxconnect.c, __pmConnectTo sets
// FNDELAY and fails on anything but EINPROGRESS), and for a unix socket whose
// queue is full Linux's connect(2) fails at once with EAGAIN instead of
// waiting for room. libpcp reports that as a failure: `unix:` then fails
// (pmNewContext gives -ENOENT, "No such file or directory") and `local:`
// falls back to TCP on localhost (connect.c, __pmConnectPMCD), a connection
// for which pmcd passes the agent no credentials at all. So when a few dozen
// clients start at the same instant, some fail to connect or are refused as
// anonymous, although every one of them is a local user pmcd would identify.
//
// A blocking connect would simply wait for room, bounded by its timeout.
// libpcp offers no blocking connect, so the client waits the same way
// itself: it tries again after a short pause, with the pauses spread out
// (clients that failed together must not all come back together) and all the
// attempts bounded by libpcp's own connect timeout (PMCD_CONNECT_TIMEOUT,
// 5 s by default): as long as libpcp gives a TCP connection to complete.

/// When to try connecting to pmcd's unix socket again after a failure, and
/// when to give up.
public struct ConnectPatience: Sendable, Equatable {
    /// How long all the attempts together may take.
    public let limit: Duration
    /// The pause after the first failure (before spreading).
    public let firstPause: Duration
    /// Pauses double up to this.
    public let longestPause: Duration

    /// libpcp's connect timeout when PMCD_CONNECT_TIMEOUT does not set one.
    public static let defaultLimit: Duration = .seconds(5)

    public init(limit: Duration, firstPause: Duration = .milliseconds(5), longestPause: Duration = .milliseconds(100)) {
        self.limit = limit
        self.firstPause = firstPause
        self.longestPause = longestPause
    }

    /// The patience for libpcp's connect timeout in seconds
    /// (`__pmConnectTimeout()`). libpcp takes 0 as "no limit" for a TCP
    /// connect; a client retrying a unix socket must stop some time, so 0,
    /// a negative or a non-finite value gives the default 5 s.
    public init(connectTimeoutSeconds seconds: Double) {
        if seconds.isFinite && seconds > 0 {
            self.init(limit: .nanoseconds(Int64(min(seconds, 86_400) * 1e9)))
        } else {
            self.init(limit: Self.defaultLimit)
        }
    }

    /// The pause before the next attempt, after `failures` (1 or more)
    /// failed attempts, `elapsed` after the first one began; nil: give up.
    /// `spread` (from 0 up to 1, random) picks the pause between half and
    /// all of the doubled one. The last pause ends at the limit, so the last
    /// attempt is made then.
    public func pause(afterFailures failures: Int, elapsed: Duration, spread: Double) -> Duration? {
        guard failures >= 1, elapsed < limit else { return nil }
        var base = firstPause
        for _ in 1..<min(failures, 32) where base < longestPause { base = base * 2 }
        base = min(base, longestPause)
        let fraction = 0.5 + 0.5 * min(max(spread, 0), 1)
        let pause = base * fraction
        return min(pause, limit - elapsed)
    }

    /// The specification to hand libpcp for `spec`: `local:` becomes
    /// `unix:` with the same path and attributes while pmcd's socket is
    /// there (`socketExists`), since libpcp turns a `local:` connection the
    /// socket does not take at once (a full queue) into one over TCP, which
    /// carries no credentials; with `unix:` the client waits for room
    /// instead. Without the socket, and for any other specification, `spec`
    /// is used as it is (`local:` then reaches pmcd over TCP, as libpcp
    /// means it to).
    public static func connectionSpec(for spec: String, socketExists: Bool) -> String {
        guard spec.hasPrefix("local:"), socketExists else { return spec }
        return "unix:" + spec.dropFirst("local:".count)
    }

    /// The path of the unix socket that a host specification connects
    /// through, read the way libpcp reads it (spec.c: parseProtocolSpec
    /// drops the slashes after `unix:` or `local:`, parseSocketPath takes
    /// the rest up to `:` or `?`, makes it absolute, and takes the default
    /// socket when it is empty); nil for a specification of a TCP host.
    public static func unixSocketPath(of spec: String, defaultPath: String) -> String? {
        var rest: Substring
        if spec.hasPrefix("unix:") {
            rest = spec.dropFirst("unix:".count)
        } else if spec.hasPrefix("local:") {
            rest = spec.dropFirst("local:".count)
        } else {
            return nil
        }
        rest = rest.drop { $0 == "/" }
        let path = rest.prefix { $0 != ":" && $0 != "?" }
        return path.isEmpty ? defaultPath : "/" + path
    }
}
