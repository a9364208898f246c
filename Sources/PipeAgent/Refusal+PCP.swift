import CPCP
import PipeCore
import PipeSystem

extension LaunchRefusal {
    /// The PCP error code a client sees from pmStore: the one place where a
    /// refusal becomes a number. The sentence goes to pipe.lasterror.
    var pcpCode: Int32 {
        switch self {
        case .unknownInstance: return cpcp_ERR_INST
        case .noCredentials, .daemonWithoutSASL, .accessDenied, .cannotRun: return cpcp_ERR_PERMISSION
        case .badParameters: return cpcp_ERR_BADSTORE
        case .alreadyRunning: return cpcp_ERR_ISCONN
        case .limitReached, .shuttingDown, .tryAgain: return -Errno.tryAgain
        case .startFailed(_, let errno): return errno > 0 ? -errno : cpcp_ERR_GENERIC
        }
    }
}
