import CPCP
import PipeCore
import PipeSystem

/// The agent's log: PCP's pmNotifyErr, which writes timestamped lines to
/// $PCP_LOG_DIR/pmcd/pipe.log once pmdaOpenLog has redirected stderr.
///
/// The log is bounded: past `maximumBytes` it is moved to pipe.log.prev
/// and a new one started (__pmRotateLog, what PCP's own logs do at each
/// start), so at most about twice that is ever on disk.
enum Log {
    static func info(_ message: String) { write(LOG_INFO, message) }
    static func warning(_ message: String) { write(LOG_WARNING, message) }
    static func error(_ message: String) { write(LOG_ERR, message) }

    /// `[limits] log_size`, set from each configuration the agent adopts.
    nonisolated(unsafe) static var maximumBytes = 32 << 20
    /// How much to write between two looks at the file's size.
    private static let checkEvery = 16 << 10

    nonisolated(unsafe) private static var writtenSinceCheck = 0
    nonisolated(unsafe) private static var logPath: UnsafeMutablePointer<CChar>?

    /// Remembers the log's path for rotation (the name pmdaDaemon was given,
    /// relative to the agent's working directory).
    static func opened(path: UnsafeMutablePointer<CChar>?) { logPath = path }

    private static func write(_ priority: Int32, _ message: String) {
        cpcp_log(priority, message)
        writtenSinceCheck += message.utf8.count + 48
        if writtenSinceCheck >= checkEvery {
            writtenSinceCheck = 0
            rotateIfLarge()
        }
    }

    private static func rotateIfLarge() {
        guard let logPath, let size = FileDescriptor.standardError.size, size > maximumBytes else { return }
        cpcp_rotate_log(logPath)
        cpcp_log(
            LOG_INFO,
            "log rotated: it passed \(ByteCount(bytes: maximumBytes)) (log_size); the previous one is pipe.log.prev")
    }
}
