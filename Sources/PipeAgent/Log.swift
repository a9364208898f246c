import CPCP

/// The agent's log: PCP's pmNotifyErr, which writes timestamped lines to
/// $PCP_LOG_DIR/pmcd/pipe.log once pmdaOpenLog has redirected stderr.
enum Log {
    static func info(_ message: String) { cpcp_log(LOG_INFO, message) }
    static func warning(_ message: String) { cpcp_log(LOG_WARNING, message) }
    static func error(_ message: String) { cpcp_log(LOG_ERR, message) }
}
