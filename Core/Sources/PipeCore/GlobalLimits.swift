/// Agent-wide limits from the `[limits]` section.
public struct GlobalLimits: Sendable, Equatable {
    /// Commands running at once, all instances and users together.
    public var maxRunning = 64
    /// Commands one client user may run at once.
    public var maxPerUser = 8
    /// Parameters one request may carry.
    public var maxParameters = 32
    /// UTF-8 bytes in one parameter.
    public var maxParameterLength = 1024
    /// Seconds a run may wait on a full queue with no fetch before it is
    /// stopped (an instance's `idle_timeout` overrides it).
    public var idleTimeoutSeconds = 60
    /// Runs of `maxRunning` that only root (and `reservedGroup`) may use, so
    /// ordinary users together can never take the last ones: the `reserved`
    /// setting, or a quarter of `maxRunning` up to 4 (64 gives 4, 8 gives 2,
    /// 3 gives 0).
    public var reserved: Int {
        get { reservedSetting ?? min(4, maxRunning / 4) }
        set { reservedSetting = newValue }
    }
    var reservedSetting: Int?
    /// A group whose members may use the reserved runs too.
    public var reservedGroup: String? = nil
    /// Bytes the agent's log may reach before it is moved to pipe.log.prev
    /// and a new one started.
    public var logSize = 32 << 20

    public init(maxRunning: Int = 64, maxPerUser: Int = 8, maxParameters: Int = 32, maxParameterLength: Int = 1024) {
        self.maxRunning = maxRunning
        self.maxPerUser = maxPerUser
        self.maxParameters = maxParameters
        self.maxParameterLength = maxParameterLength
    }
}
