// How much one fetch may take from a client's queue.

/// The most records and payload bytes one fetch hands out, chosen by how
/// the client fetches.
///
/// A client that fetches on a fixed interval (pmval, pmevent, pmlogger: once
/// a second by default) gets about a default queue's worth, so it drains a
/// full queue per fetch as it would with PCP's agent. A client that is back
/// within `rapidInterval` of its previous fetch (pmpipe draining a backlog:
/// it fetches again as soon as a batch is full) gets smaller batches: it
/// loses nothing by them, and they keep each PDU small enough that pmcd,
/// which allocates a buffer per PDU, does not fault in megabytes of fresh
/// pages for every fetch (at millions of lines a second that was a quarter
/// of pmcd's time).
public struct BatchLimits: Sendable, Equatable {
    public var records = 65536
    public var bytes = 2 << 20
    public var rapidRecords = 16384
    public var rapidBytes = 512 << 10
    /// Nanoseconds between fetches below which a client counts as draining.
    public var rapidInterval: UInt64 = 20_000_000

    public init() {}

    /// The most times one fetch may name the same metric (PMAPI allows a
    /// metric to be repeated). Every copy of an event metric carries the
    /// same records, so a reply grows with the copies: with thousands of
    /// them one fetch became gigabytes and pmcd dropped the agent. A fetch
    /// naming a metric more often is refused whole (PM_ERR_TOOBIG) and
    /// nothing is taken from any queue.
    public static let maxRepeats = 8

    /// `limits` shared among `copies` value sets of one metric in one fetch,
    /// so that the reply holds no more than one batch in all; each copy
    /// still gets at least one record, or a line longer than its share
    /// would never be delivered.
    public static func share(_ limits: (records: Int, bytes: Int), among copies: Int) -> (records: Int, bytes: Int) {
        let copies = max(1, copies)
        return (max(1, limits.records / copies), max(1, limits.bytes / copies))
    }

    /// The limits for a fetch that comes `sincePrevious` nanoseconds after
    /// the client's previous fetch of the same run (nil: its first).
    public func limits(sincePrevious: UInt64?) -> (records: Int, bytes: Int) {
        if let elapsed = sincePrevious, elapsed < rapidInterval {
            return (rapidRecords, rapidBytes)
        }
        return (records, bytes)
    }
}
