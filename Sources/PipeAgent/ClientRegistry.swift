import CPCP
import PipeCore
import PipeSystem

/// What the agent knows about one pmcd client context: the credentials pmcd
/// passed (PMDA_ATTR_*), the identity resolved from them once, and per
/// command the client's current or finished run, its last exit status and
/// its last refusal.
final class ClientContext {
    let id: Int32
    var uid: UInt32?
    var gid: UInt32?
    /// PMDA_ATTR_USERNAME: only ever set when pmcd authenticated the client
    /// with SASL (libpcp's secureserver.c).
    var saslUser: String?
    /// PMDA_ATTR_PROCESSID: set for unix-socket clients (libpcp's auxserver.c).
    var pid: Int32?
    /// Resolved once from the attributes (groups looked up), cleared when
    /// another attribute arrives.
    var identity: ClientIdentity?

    enum Stream {
        /// A run whose end record has not yet been handed out.
        case active(Run)
        /// The end record of this run has been handed out: later fetches say
        /// PM_ERR_NOTCONN (within the same PDU they get the same records).
        case ended(runID: UInt64)
    }
    var streams: [Int32: Stream] = [:]
    var lastStatus: [Int32: Termination] = [:]
    var lastError: [Int32: String] = [:]
    /// Answers to control stores, fetched once (pipe.control.*), by metric
    /// and instance.
    var replies: [Metric: [Int32: String]] = [:]
    /// This context's positions in the shared runs it reads, by run instance.
    var runCursors: [Int32: RunCursor] = [:]

    init(id: Int32) { self.id = id }

    func activeRun(_ instance: Int32) -> Run? {
        if case .active(let run)? = streams[instance] { return run }
        return nil
    }

    /// The names of commands this context has a run of.
    var activeRuns: [Run] {
        streams.values.compactMap { if case .active(let run) = $0 { return run } else { return nil } }
    }
}

/// The client contexts pmcd told the agent about.
final class ClientRegistry {
    private(set) var contexts: [Int32: ClientContext] = [:]

    var count: Int { contexts.count }

    /// The context, created on first sight.
    func context(_ id: Int32) -> ClientContext {
        if let existing = contexts[id] { return existing }
        let created = ClientContext(id: id)
        contexts[id] = created
        return created
    }

    func existing(_ id: Int32) -> ClientContext? { contexts[id] }

    func remove(_ id: Int32) -> ClientContext? { contexts.removeValue(forKey: id) }

    /// pmcd tells us who the client is, once per context: uid, gid and pid
    /// for a unix-socket client; user name, uid and gid for one that
    /// authenticated with SASL.
    func attribute(context id: Int32, attribute: Int32, value: String) {
        let client = context(id)
        switch attribute {
        case PMDA_ATTR_USERID: client.uid = UInt32(value)
        case PMDA_ATTR_GROUPID: client.gid = UInt32(value)
        case PMDA_ATTR_USERNAME: client.saslUser = value
        case PMDA_ATTR_PROCESSID: client.pid = Int32(value)
        default: return
        }
        client.identity = nil
    }

    /// The client's user and all its groups (pmcd passes the uid and one gid;
    /// the rest is looked up), resolved once per context.
    func identity(of client: ClientContext) -> ClientIdentity {
        if let known = client.identity { return known }
        guard let uid = client.uid else {
            let nobody = ClientIdentity()
            client.identity = nobody
            return nobody
        }
        var groupIDs: [UInt32] = []
        var groupNames: [String] = []
        var userName = client.saslUser
        if let account = Accounts.user(id: uid) {
            userName = account.name
            for group in Accounts.groups(of: account) {
                groupIDs.append(group.gid)
                if let name = group.name { groupNames.append(name) }
            }
        }
        if let gid = client.gid, !groupIDs.contains(gid) {
            groupIDs.append(gid)
            if let name = Accounts.groupName(id: gid) { groupNames.append(name) }
        }
        let authentication: Authentication = client.saslUser.map { .sasl(user: $0) } ?? .unixSocket(pid: client.pid)
        let identity = ClientIdentity(
            uid: uid, gid: client.gid, userName: userName, groupNames: groupNames,
            groupIDs: groupIDs, authentication: authentication)
        client.identity = identity
        return identity
    }
}
