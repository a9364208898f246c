import PipeCore

/// Everything that can stop pmpipe before or during a run, each rendered as
/// one sentence for `pmpipe: <sentence>` on stderr (exit status 255).
public enum PipeClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotConnect(host: String, reason: String)
    case agentNotInstalled(metric: String, host: String)
    case notAnEventMetric(metric: String)
    case noSuchInstance(String, configured: [String])
    case permissionDenied(instance: String, detail: String?, overTCP: Bool)
    case badParameters(instance: String, parameters: String, detail: String?)
    /// The store would be a PDU larger than pmcd accepts from a client.
    case requestTooLarge(parameterBytes: Int, pduBytes: Int, limit: Int)
    case alreadyRunning(instance: String)
    case busy(instance: String, detail: String?)
    case cannotStart(instance: String, reason: String, detail: String?)
    case pcp(operation: String, reason: String)
    case malformedEvents(EventArrayError)
    case cannotWrite(reason: String)

    public var description: String {
        switch self {
        case .cannotConnect(let host, let reason):
            return "cannot connect to pmcd on \(host) (is pmcd running?): \(reason)"
        case .agentNotInstalled(let metric, let host):
            return "the pipe agent is not installed on \(host) (pmcd does not know \(metric))"
        case .notAnEventMetric(let metric):
            return "\(metric) is not an event metric, so this is not the pipe agent"
        case .noSuchInstance(let name, let configured):
            if configured.isEmpty { return "no such instance '\(name)' (the agent has no commands configured)" }
            return "no such instance '\(name)' (configured: \(configured.joined(separator: ", ")))"
        case .permissionDenied(let instance, let detail, let overTCP):
            var text = "permission denied for '\(instance)'"
            if let detail { text += ": \(Self.withoutLead("permission denied", detail))" }
            if overTCP {
                text += " (over TCP pmcd passes no user credentials; use -h unix: on the agent's host)"
            }
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
            return "the agent cannot start '\(instance)' now: \(detail ?? "a concurrency limit was reached") (try again later)"
        case .cannotStart(let instance, let reason, let detail):
            return "'\(instance)' could not start: \(detail ?? reason)"
        case .pcp(let operation, let reason):
            return "\(operation) failed: \(reason)"
        case .malformedEvents(let error):
            return "the agent sent a malformed event array: \(error)"
        case .cannotWrite(let reason):
            return "cannot write to standard output: \(reason)"
        }
    }

    /// The agent's sentence may already start with the words pmpipe puts
    /// first ("bad parameters: ..."); say them once.
    static func withoutLead(_ lead: String, _ detail: String) -> String {
        guard detail.lowercased().hasPrefix(lead + ":") else { return detail }
        return String(detail.dropFirst(lead.count + 1).drop(while: { $0 == " " }))
    }
}
