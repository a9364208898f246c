import PipeCore

/// The event arrays handed to libpcp as fetch values.
///
/// libpcp sends a PMDA_FETCH_STATIC value as it finds it when the PDU goes
/// out, after the fetch callbacks returned, so an array must not change or
/// be freed until then: arrays given out during a PDU stay `inFlight` until
/// `endPDU`. A fetch may name the same metric more than once (PMAPI allows
/// it): the second value set of a run within one PDU gets the very same
/// array (`snapshot`), so both carry the same records, nothing is taken
/// twice from the queue, and nothing is reused while libpcp points at it.
final class EventArrayPool {
    private let layout: TypeLengthLayout
    private var free: [EventArrayWriter] = []
    private var inFlight: [EventArrayWriter] = []
    /// The array already answered for a run in the current PDU, by run id.
    private var answered: [UInt64: UnsafeRawBufferPointer?] = [:]

    /// Arrays kept for reuse; the rest are freed once their PDU is sent,
    /// since each keeps the size of the largest batch it ever held.
    static let pooled = 8

    init(layout: TypeLengthLayout) { self.layout = layout }

    /// A fetch PDU is being answered.
    func beginPDU() { answered.removeAll(keepingCapacity: true) }

    /// The PDU has been sent: every array given out is free again.
    func endPDU() {
        for writer in inFlight where free.count < Self.pooled { free.append(writer) }
        inFlight.removeAll(keepingCapacity: true)
        answered.removeAll(keepingCapacity: true)
    }

    /// The answer already given for `run` in this PDU (`.some(nil)`: no
    /// records), or nil when the run has not been fetched in this PDU.
    func answer(for run: UInt64) -> UnsafeRawBufferPointer?? { answered[run] }

    /// Encodes with a free writer (kept in flight until `endPDU`) and
    /// remembers the answer for `run`.
    func encode(for run: UInt64, _ body: (EventArrayWriter) -> Int) -> UnsafeRawBufferPointer? {
        let writer = free.popLast() ?? EventArrayWriter(layout: layout)
        writer.reset()
        inFlight.append(writer)
        let records = body(writer)
        let array = records > 0 ? writer.finish() : nil
        answered[run] = .some(array)
        return array
    }

    /// Frees every pooled array (the agent is idle).
    func releaseIdle() { free.removeAll() }
}
