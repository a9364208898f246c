import PipeCore

#if canImport(Glibc)
    import Glibc
#endif

/// Everything that can stop pmpipe before or during a run, each rendered as
/// one sentence for `pmpipe: <sentence>` on stderr (exit status 255).
public enum PipeClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `pmcdMayBeDown`: the failure is one a missing pmcd causes (connection
    /// refused, no socket), not a refused login, so asking whether pmcd runs helps.
    case cannotConnect(host: String, reason: String, pmcdMayBeDown: Bool)
    /// The host name does not resolve (libpcp says only "No route to host").
    case unknownHost(host: String, name: String)
    /// pmcd's socket is there but took no connection from this client for
    /// all of libpcp's connect timeout: its queue of pending connections
    /// stayed full (PCPContext.init).
    case pmcdQueueFull(host: String, socket: String, waited: Duration, reason: String)
    case agentNotInstalled(metric: String, host: String)
    case notAnEventMetric(metric: String)
    /// `offered`: the commands the caller may run (those --list shows).
    case noSuchInstance(String, offered: [String])
    /// `advice`: what to change when the connection carried no credentials
    /// (HostSpec.credentialsAdvice).
    case permissionDenied(instance: String, detail: String?, advice: String?)
    case badParameters(instance: String, parameters: String, detail: String?)
    /// The store would be a PDU larger than pmcd accepts from a client.
    case requestTooLarge(parameterBytes: Int, pduBytes: Int, limit: Int)
    case alreadyRunning(instance: String)
    case busy(instance: String, detail: String?)
    case cannotStart(instance: String, reason: String, detail: String?)
    case pcp(operation: String, reason: String)
    case malformedEvents(EventArrayError)
    case cannotWrite(reason: String)
    /// The agent lacks a metric a mode needs (PCP's C agent has no shared runs).
    case featureMissing(feature: String, metric: String, host: String)
    /// A control store got no reply, or one pmpipe cannot read.
    case noReply(metric: String, value: String?)
    case noSuchRun(String)
    /// The run exists but this client may not read it.
    case cannotReadRun(String, advice: String?)
    /// The agent refused `--stop`.
    case cannotStop(run: String, reason: String, advice: String?)
    /// The run disappeared (culled, or no longer readable) while pmpipe followed it.
    case runGone(String)
    case cannotOpenArchive(path: String, reason: String)
    /// The archive has no such run (or command) instance.
    case notInArchive(instance: String, archive: String, known: [String])
    case badTimeWindow(String)

    public var description: String {
        switch self {
        case .cannotConnect(let host, let reason, let pmcdMayBeDown):
            return "cannot connect to pmcd on \(host)\(pmcdMayBeDown ? " (is pmcd running?)" : ""): \(reason)"
        case .unknownHost(let host, let name):
            return "cannot connect to pmcd on \(host): no such host ('\(name)' does not resolve)"
        case .pmcdQueueFull(let host, let socket, let waited, let reason):
            let seconds = Double(waited.components.seconds) + Double(waited.components.attoseconds) / 1e18
            let shown = (seconds * 10).rounded() / 10
            return "cannot connect to pmcd on \(host): its socket \(socket) is there but took no connection in "
                + "\(shown) s (\(reason)): either pmcd does not accept connections, or too many clients are "
                + "connecting at once for its queue of pending connections (PMCD_MAXPENDING, default 5; "
                + "PMCD_CONNECT_TIMEOUT lets pmpipe wait longer)"
        case .agentNotInstalled(let metric, let host):
            return "the pipe agent is not installed on \(host) (pmcd does not know \(metric))"
        case .notAnEventMetric(let metric):
            return "\(metric) is not an event metric, so this is not the pipe agent"
        case .noSuchInstance(let name, let offered):
            if offered.isEmpty { return "no such instance '\(name)' (the agent offers you no commands)" }
            return "no such instance '\(name)' (you may run: \(offered.joined(separator: ", ")))"
        case .permissionDenied(let instance, let detail, let advice):
            var text = "permission denied for '\(instance)'"
            if let detail, let advice, detail.contains("no credentials") {
                // The agent's sentence names remedies too: say them once, in pmpipe's terms.
                return text + ": the client has no credentials; \(advice)"
            }
            if let detail { text += ": \(Self.withoutLead("permission denied", detail))" }
            if let advice { text += " (\(advice))" }
            return text
        case .badParameters(let instance, let parameters, let detail):
            if let detail { return "bad parameters for '\(instance)': \(Self.withoutLead("bad parameters", detail))" }
            return "bad parameters '\(parameters)' for '\(instance)' (the agent gave no detail)"
        case .requestTooLarge(let parameterBytes, let pduBytes, let limit):
            return "the parameters are too long: their \(parameterBytes) bytes make a request of \(pduBytes) bytes, "
                + "more than the \(limit) bytes pmcd accepts from a client"
        case .alreadyRunning(let instance):
            return "'\(instance)' is already running for this connection"
        case .busy(let instance, let detail):
            return
                "the agent cannot start '\(instance)' now: \(detail ?? "a concurrency limit was reached") (try again later)"
        case .cannotStart(let instance, let reason, let detail):
            return "'\(instance)' could not start: \(Self.withoutLead("cannot run the command", detail ?? reason))"
        case .pcp(let operation, let reason):
            return "\(operation) failed: \(reason)"
        case .malformedEvents(let error):
            return "the agent sent a malformed event array: \(error)"
        case .cannotWrite(let reason):
            return "cannot write to standard output: \(reason)"
        case .featureMissing(let feature, let metric, let host):
            return "the pipe agent on \(host) has no \(feature) (pmcd does not know \(metric))"
        case .noReply(let metric, let value):
            if let value { return "the agent answered \(metric) with '\(value.prefix(200))', which pmpipe cannot read" }
            return "the agent did not answer through \(metric)"
        case .noSuchRun(let run):
            return "no shared run is named '\(run)' (pmpipe --runs lists the runs you may read)"
        case .cannotReadRun(let run, let advice):
            var text =
                "you may not read '\(run)': only the user who started it, root, and users that a read rule "
                + "names may follow a shared run"
            if let advice { text += " (\(advice))" }
            return text
        case .cannotStop(let run, let reason, let advice):
            var text = "cannot stop '\(run)': \(reason)"
            if let advice { text += " (\(advice))" }
            return text
        case .runGone(let run):
            return "'\(run)' is gone: the agent no longer keeps it, or no longer lets you read it"
        case .cannotOpenArchive(let path, let reason):
            return "cannot open the archive \(path): \(reason)"
        case .notInArchive(let instance, let archive, let known):
            if known.isEmpty { return "the archive \(archive) holds no run named '\(instance)' (it knows of no runs)" }
            return "the archive \(archive) holds no run named '\(instance)' (runs it knows of: "
                + "\(known.joined(separator: ", ")))"
        case .badTimeWindow(let reason):
            return "bad time window: \(reason)"
        }
    }

    /// Whether a failed pmNewContext's code is one that a pmcd not running
    /// gives: the connection refused or reset, no socket, or no answer. An
    /// authentication failure (PM_ERR_PERMISSION, a SASL error) is not.
    public static func pmcdMayBeDown(code: Int32) -> Bool {
        [ECONNREFUSED, ENOENT, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH].contains(-code)
    }

    /// The agent's sentence may already start with the words pmpipe puts
    /// first ("bad parameters: ..."); say them once.
    static func withoutLead(_ lead: String, _ detail: String) -> String {
        guard detail.lowercased().hasPrefix(lead + ":") else { return detail }
        return String(detail.dropFirst(lead.count + 1).drop(while: { $0 == " " }))
    }
}
