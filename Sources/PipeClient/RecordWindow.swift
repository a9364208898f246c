import PipeCore

/// Which of a stream's records pmpipe prints, by their timestamps: for
/// `--attach` (from now: nothing written before pmpipe attached) and for
/// `-a` with `-S`/`-T` (the time window).
///
/// Records before the window are history: their lines are not printed and
/// a gap among them is no loss, but an end record there still ends the
/// stream with its exit status (a run that ended before pmpipe attached).
/// Records after the window are ignored altogether.
public struct RecordWindow: Sendable, Equatable {
    /// Records older than this are history (nil: none).
    public var notBefore: Timestamp?
    /// Records newer than this are ignored (nil: none).
    public var notAfter: Timestamp?
    /// A MISSED record that comes before every other record reports lines
    /// that had left the agent's buffer before this reader started (the
    /// oldest line `--attach --from start` can get), not lines lost.
    public var leadingGapIsHistory: Bool

    public init(notBefore: Timestamp? = nil, notAfter: Timestamp? = nil, leadingGapIsHistory: Bool = false) {
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.leadingGapIsHistory = leadingGapIsHistory
    }

    public enum Place: Sendable, Equatable { case before, inside, after }

    public func place(_ time: Timestamp) -> Place {
        if let notBefore, time < notBefore { return .before }
        if let notAfter, notAfter < time { return .after }
        return .inside
    }
}
