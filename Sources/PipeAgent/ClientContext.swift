import PipeCore

/// What the agent knows about one pmcd client context: the credentials pmcd
/// passed (PMDA_ATTR_USERID/GROUPID), and per command the client's current or
/// finished run, its last exit status and its last refusal.
final class ClientContext {
    let id: Int32
    var uid: UInt32?
    var gid: UInt32?
    /// PMDA_ATTR_USERNAME: only set when pmcd authenticated the client with SASL.
    var saslUser: String?
    var pid: Int32?
    /// Resolved once from the attributes (groups looked up), cleared when one arrives.
    var identity: ClientIdentity?

    enum Stream {
        /// A run whose end record has not yet been handed out.
        case active(Run)
        /// The end record has been handed out: fetches now say PM_ERR_NOTCONN.
        case ended
    }
    var streams: [Int32: Stream] = [:]
    var lastStatus: [Int32: Termination] = [:]
    var lastError: [Int32: String] = [:]

    init(id: Int32) { self.id = id }

    func activeRun(_ instance: Int32) -> Run? {
        if case .active(let run)? = streams[instance] { return run }
        return nil
    }
}
