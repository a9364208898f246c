/// A Linux capability (capabilities(7)) that an instance may keep when it
/// runs, as named in the `capabilities` instance setting.
public struct Capability: Sendable, Hashable, CustomStringConvertible {
    /// The lowercase kernel name: `cap_perfmon`.
    public let name: String
    /// The bit number in the capability sets (`CAP_PERFMON` is 38).
    public let number: Int32

    public init(name: String, number: Int32) {
        self.name = name
        self.number = number
    }

    public var description: String { name }

    /// Looks up `perfmon`, `CAP_PERFMON` or `cap_perfmon` (any case).
    public static func lookup(named text: String) -> Capability? {
        var name = text.trimmingASCIIWhitespace().lowercased()
        if !name.hasPrefix("cap_") { name = "cap_" + name }
        return all.first { $0.name == name }
    }

    /// Every capability Linux defines, 0 to 40, in number order.
    public static let all: [Capability] = [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
        "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
        "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
        "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
        "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
        "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
    ].enumerated().map { Capability(name: "cap_" + $0.element, number: Int32($0.offset)) }
}
