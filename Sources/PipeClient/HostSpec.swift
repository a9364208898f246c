/// What pmpipe needs to know about a PCP host specification (`-h`):
/// `unix:`, `local:`, `HOST[:PORT]`, `pcp://HOST[:PORT]?username=USER&...`.
/// libpcp parses it for the connection; this only answers whether the
/// connection can carry the caller's identity, for the advice pmpipe gives
/// when the agent refuses a client it could not identify.
public struct HostSpec: Sendable, Equatable {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// The local unix socket, over which pmcd passes the client's uid and
    /// gid. (`local:` falls back to TCP when the socket is not there.)
    public var isUnixSocket: Bool { text.hasPrefix("unix:") || text.hasPrefix("local:") }

    /// Whether the spec names a SASL user (`username=`, `user=` or
    /// `authname=`), with which pmcd authenticates a TCP connection.
    public var namesUser: Bool {
        guard let query = text.split(separator: "?", maxSplits: 1).dropFirst().first else { return false }
        return query.split(whereSeparator: { $0 == "&" || $0 == ";" }).contains { attribute in
            let key = attribute.split(separator: "=", maxSplits: 1).first.map(String.init)?.lowercased() ?? ""
            return key == "username" || key == "user" || key == "authname"
        }
    }

    /// The host (and port) without scheme and attributes: `db1` for
    /// `pcp://db1?username=bob`.
    public var hostName: String {
        var rest = Substring(text)
        for scheme in ["pcp://", "pcps://", "local://", "unix://"] where rest.hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
        }
        if let query = rest.firstIndex(of: "?") { rest = rest[..<query] }
        return rest.isEmpty ? "HOST" : String(rest)
    }

    /// The name to resolve, without port: `db1` for `pcp://db1:44321`,
    /// `::1` for `[::1]:44321`; nil for a unix socket. Through a proxy
    /// (`db1@proxy1:44322`) libpcp resolves the proxy's name, the last one;
    /// the proxy resolves the others.
    public var resolvableName: String? {
        guard !isUnixSocket else { return nil }
        var host = hostName
        if let at = host.lastIndex(of: "@") { host = String(host[host.index(after: at)...]) }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<close])
        }
        if host.filter({ $0 == ":" }).count > 1 { return host }  // a bare IPv6 address
        return host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? host
    }

    /// Whether getaddrinfo(3)'s `status` says the name is not known
    /// (EAI_NONAME, EAI_NODATA), rather than that it could not be looked
    /// up now (EAI_AGAIN: the DNS server did not answer; EAI_FAIL,
    /// EAI_MEMORY, EAI_SYSTEM), when "no such host" would be wrong.
    public static func nameIsUnknown(getaddrinfoStatus status: Int32) -> Bool {
        status == -2 || status == -5  // EAI_NONAME, EAI_NODATA (glibc)
    }

    /// The advice added to a refusal when the connection carried no
    /// credentials: the agent then denies every request (a TCP connection
    /// is identified only by a SASL login). nil when the connection did
    /// carry them: a refused SASL user or unix-socket client is refused by
    /// the rules, and no advice about connections would help.
    ///
    /// The agent's sentence says "no credentials" when it had none; PCP's
    /// C agent gives no sentence, and then the spec itself tells.
    ///
    /// `local:` is the one local specification that can arrive without
    /// credentials: libpcp connects over TCP to localhost when the unix
    /// socket does not take the connection (connect.c, __pmConnectPMCD).
    /// pmpipe connects `local:` as `unix:` while the socket is there, so
    /// this happens when it is not; other PCP clients also fall back when
    /// pmcd's queue of pending connections is full. The agent saying so is
    /// the only sign of it.
    public func credentialsAdvice(agentSentence: String?) -> String? {
        if text.hasPrefix("local:") {
            guard let agentSentence, agentSentence.contains("no credentials") else { return nil }
            return "with -h local: libpcp falls back to TCP, which carries no credentials, when pmcd's unix socket "
                + "is missing or does not take the connection; use -h unix:"
        }
        guard !isUnixSocket else { return nil }
        if let agentSentence {
            guard agentSentence.contains("no credentials") else { return nil }
        } else if namesUser {
            return nil
        }
        return "over TCP pmcd passes your identity only after a SASL login: use -h unix: on the agent's host, "
            + "or log in with -h 'pcp://\(hostName)?username=USER'"
    }
}
