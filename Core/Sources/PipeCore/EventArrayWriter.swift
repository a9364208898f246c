// The agent's side of the event-record wire format: a packed pmEventArray
// (the value of a PM_TYPE_EVENT metric, laid out as EventRecordLayout says)
// built straight into one buffer.
//
// libpcp_pmda's pmdaEventAddRecord/pmdaEventAddParam build the same bytes, but
// through a call, a lookup of the array by index, a strlen and a capacity
// check per record and per parameter. At millions of lines a second that was
// a fifth of the agent's time, on the path every fetch waits for. Here the
// caller knows each line's length, so a record is a few stores and a memcpy.
//
// Like libpcp's, a string value carries no terminating NUL unless padding
// supplies one: its length is in the word. Unlike libpcp's, padding is zeroed,
// so no stale heap bytes travel to clients.

/// Builds one packed pmEventArray at a time in a buffer it reuses: `reset`,
/// then records and their parameters inside `encode`, then `finish`.
///
/// A class, so that the agent can keep writers in a pool and hand a writer's
/// bytes to libpcp until the PDU that points at them has been sent: the
/// buffer belongs to the writer's one `EventArrayEncoder`, which cannot be
/// copied, so no second owner can free or move it. Not thread-safe; one
/// writer per array in flight.
///
/// The writing itself is done by the encoder, which `encode`'s closure gets
/// inout: a class's stored properties would be checked for exclusive access
/// at run time on every store, which cost more than the encoding.
public final class EventArrayWriter {
    private var encoder: EventArrayEncoder

    public init(layout: TypeLengthLayout, initialCapacity: Int = 4096) {
        encoder = EventArrayEncoder(layout: layout, capacity: initialCapacity)
    }

    /// Starts a new, empty array, keeping the buffer.
    public func reset() { encoder.reset() }

    /// Adds records: `body` gets the encoder inout.
    public func encode<Result>(_ body: (inout EventArrayEncoder) throws -> Result) rethrows -> Result {
        try body(&encoder)
    }

    public var layout: TypeLengthLayout { encoder.layout }
    public var recordCount: Int32 { encoder.recordCount }
    public var byteCount: Int { encoder.byteCount }
    public var capacity: Int { encoder.capacity }

    /// Writes the header and returns the whole array, valid until the next
    /// change to this writer. The array must fit the 24-bit length field:
    /// callers bound batches (see `EventArrayEncoder.perRecordOverhead`).
    public func finish() -> UnsafeRawBufferPointer { encoder.finish() }
}
