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

    public init(maxRunning: Int = 64, maxPerUser: Int = 8, maxParameters: Int = 32, maxParameterLength: Int = 1024) {
        self.maxRunning = maxRunning
        self.maxPerUser = maxPerUser
        self.maxParameters = maxParameters
        self.maxParameterLength = maxParameterLength
    }
}
