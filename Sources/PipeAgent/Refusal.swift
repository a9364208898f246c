import CPCP
import Glibc
import PipeCore
import PipeSystem

/// Why a request to start a command was refused. Typed inside the agent and
/// converted to a PCP error code exactly once, at the store boundary
/// (`pcpError`); the sentence in `message` goes to the agent's log and to
/// the client through pipe.lasterror.
enum Refusal: Error {
    case unknownInstance(Int32)
    case noCredentials
    case accessDenied(String)
    case badParameters(ParameterError)
    case alreadyRunning(String)
    case limitReached(AdmissionRefusal)
    case cannotRun(String)
    case spawnFailed(SpawnError)
    case agentShuttingDown

    var message: String {
        switch self {
        case .unknownInstance(let inst): return "no command has instance number \(inst)"
        case .noCredentials:
            return "permission denied: the client has no credentials (a remote, unauthenticated connection)"
        case .accessDenied(let reason): return "permission denied: \(reason)"
        case .badParameters(let error): return "bad parameters: \(error)"
        case .alreadyRunning(let name): return "\(name) is already running for this client"
        case .limitReached(let refusal): return "limit reached: \(refusal)"
        case .cannotRun(let reason): return "cannot run the command: \(reason)"
        case .spawnFailed(let error): return "cannot start the command: \(error)"
        case .agentShuttingDown: return "the agent is shutting down"
        }
    }

    /// The PCP error code a client sees from pmStore.
    var pcpError: Int32 {
        switch self {
        case .unknownInstance: return cpcp_ERR_INST
        case .noCredentials, .accessDenied: return cpcp_ERR_PERMISSION
        case .badParameters: return cpcp_ERR_BADSTORE
        case .alreadyRunning: return cpcp_ERR_ISCONN
        case .limitReached, .agentShuttingDown: return -EAGAIN
        case .cannotRun: return cpcp_ERR_PERMISSION
        case .spawnFailed(let error): return error.errno > 0 ? -error.errno : cpcp_ERR_GENERIC
        }
    }
}
