// Whether a process is the client's, for the `pid` parameter type. A
// process's real uid alone says little: a setuid-root program (su, passwd,
// sudo) started by the client keeps the client's real uid while it runs with
// root's effective, saved and filesystem uids, and a command run as root on
// its behalf would read that process's memory maps or environment for the
// client. So every uid and every gid of the process must be the client's.

/// The four uids and four gids of a running process, as the `Uid:` and
/// `Gid:` lines of /proc/PID/status give them (proc(5)): real, effective,
/// saved set, filesystem.
public struct ProcessCredentials: Sendable, Equatable {
    public var uids: [UInt32]
    public var gids: [UInt32]

    public init(uids: [UInt32], gids: [UInt32]) {
        self.uids = uids
        self.gids = gids
    }

    static let fieldNames = ["real", "effective", "saved", "filesystem"]

    /// The credentials from the text of /proc/PID/status, or nil when a
    /// `Uid:` or `Gid:` line is missing or has fewer than four numbers.
    public init?(procStatus text: String) {
        var uids: [UInt32]?
        var gids: [UInt32]?
        for line in text.split(separator: "\n") {
            let isUid = line.hasPrefix("Uid:")
            guard isUid || line.hasPrefix("Gid:") else { continue }
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst()
            let numbers = fields.compactMap { UInt32($0) }
            guard numbers.count == fields.count, numbers.count >= 4 else { return nil }
            if isUid { uids = Array(numbers.prefix(4)) } else { gids = Array(numbers.prefix(4)) }
        }
        guard let uids, let gids else { return nil }
        self.init(uids: uids, gids: gids)
    }

    /// Why this process is not `client`'s, phrased to follow "parameter N
    /// ('value') ", or nil when it is: root's clients may name any process;
    /// anyone else only a process all four of whose uids are the client's
    /// uid and all four of whose gids are among the client's groups
    /// (primary and supplementary).
    public func refusal(for client: ClientIdentity) -> String? {
        guard let uid = client.uid else { return "cannot be checked: the client's credentials are unknown" }
        if uid == 0 { return nil }
        guard uids.count == 4, gids.count == 4 else { return "cannot be checked: its credentials are incomplete" }
        if uids[0] != uid { return "is a process you do not own (real uid \(uids[0]))" }
        for (index, other) in uids.enumerated() where other != uid {
            return "is a process that runs with another user's privileges (\(Self.fieldNames[index]) uid \(other))"
        }
        let groups = Set(client.groupIDs + (client.gid.map { [$0] } ?? []))
        for (index, other) in gids.enumerated() where !groups.contains(other) {
            return
                "is a process that runs with the privileges of a group you are not in (\(Self.fieldNames[index]) gid \(other))"
        }
        return nil
    }
}
