// The event-record wire format in one place: a packed pmEventArray, the value
// of a PM_TYPE_EVENT metric, as libpcp hands it to agents and clients (host
// byte order; libpcp converts for the wire). The agent's encoder
// (EventArrayEncoder), its queue of ready-made records (RecordQueue) and
// pmpipe's decoder (EventArrayDecoder) all read their offsets from here;
// _Static_asserts in Sources/CPCP/cpcp.h pin them to PCP's headers, and
// PipeConnection checks the flags against libpcp's at run time.
//
//   array      0  type/length word (PM_TYPE_EVENT, the whole array's bytes)
//              4  ea_nrecords (int32)
//              8  the records, back to back
//   record     0  tv_sec (int32)     4  tv_usec (int32)
//              8  er_flags (uint32) 12  er_nparams (int32)
//             16  er_nparams parameters, back to back
//   parameter  0  ep_pmid (uint32)   4  type/length word (length = 4 + value bytes)
//              8  the value, padded with zero bytes to a multiple of 4
//
// A MISSED record has flags == PM_EVENT_FLAG_MISSED exactly, and er_nparams
// is then the number of records dropped at that point, not a parameter count.
// The type/length word's bitfield order is the compiler's: TypeLengthLayout.
//
// Every constant is a computed, inlinable property so that the encoder's and
// decoder's loops (in other modules too) see a literal, not a global to load.

/// Sizes and offsets of the packed pmEventArray format (pmapi.h's
/// `pmEventArray`, `pmEventRecord`, `pmEventParameter`) and its flag values.
public enum EventRecordLayout {
    // MARK: - Array

    /// Bytes of the array header: the type/length word and `ea_nrecords`.
    @inlinable public static var arrayHeaderSize: Int { 8 }
    /// Offset of `ea_nrecords` (int32) in the array.
    @inlinable public static var recordCountOffset: Int { 4 }

    // MARK: - Record

    /// Bytes of a record header: `er_timestamp`, `er_flags`, `er_nparams`.
    @inlinable public static var recordHeaderSize: Int { 16 }
    /// Offset of `er_timestamp.tv_sec` (int32) in a record.
    @inlinable public static var secondsOffset: Int { 0 }
    /// Offset of `er_timestamp.tv_usec` (int32) in a record.
    @inlinable public static var microsecondsOffset: Int { 4 }
    /// Offset of `er_flags` (uint32) in a record.
    @inlinable public static var flagsOffset: Int { 8 }
    /// Offset of `er_nparams` (int32) in a record: the parameter count, or
    /// for a MISSED record the number of records dropped.
    @inlinable public static var parameterCountOffset: Int { 12 }

    // MARK: - Parameter

    /// Bytes of a parameter header: `ep_pmid` and the type/length word.
    @inlinable public static var parameterHeaderSize: Int { 8 }
    /// Offset of the type/length word in a parameter (`ep_pmid` is at 0).
    @inlinable public static var parameterWordOffset: Int { 4 }
    /// What the type/length word's length counts besides the value: the
    /// word itself.
    @inlinable public static var parameterLengthOverhead: Int { 4 }

    /// PM_PDU_SIZE_BYTES: a value's bytes rounded up to a multiple of 4; the
    /// padding bytes are zero (libpcp leaves them as they were: ours never
    /// carry stale memory to a client).
    @inlinable @inline(__always)
    public static func padded(_ byteCount: Int) -> Int { (byteCount + 3) & ~3 }

    /// Bytes a parameter holding `valueBytes` bytes of value takes.
    @inlinable @inline(__always)
    public static func parameterSize(valueBytes: Int) -> Int { parameterHeaderSize + padded(valueBytes) }

    // MARK: - Flags (PM_EVENT_FLAG_* in pmapi.h)

    /// PM_EVENT_FLAG_POINT: an ordinary record.
    @inlinable public static var pointFlag: UInt32 { 1 << 0 }
    /// PM_EVENT_FLAG_START: the first record of a stream.
    @inlinable public static var startFlag: UInt32 { 1 << 1 }
    /// PM_EVENT_FLAG_END: the last record of a stream.
    @inlinable public static var endFlag: UInt32 { 1 << 2 }
    /// PM_EVENT_FLAG_ID: the record's first parameter identifies it.
    @inlinable public static var idFlag: UInt32 { 1 << 3 }
    /// PM_EVENT_FLAG_PARENT: the record's second parameter names its parent.
    @inlinable public static var parentFlag: UInt32 { 1 << 4 }
    /// PM_EVENT_FLAG_MISSED: records were dropped here; alone, never
    /// combined with another flag.
    @inlinable public static var missedFlag: UInt32 { 1 << 31 }

    // MARK: - Types

    /// PM_TYPE_EVENT: the type in the array's type/length word.
    @inlinable public static var eventType: UInt32 { 9 }
}

/// The flags of one event record, as an option set over
/// `EventRecordLayout`'s values.
public struct EventFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// PM_EVENT_FLAG_POINT: an ordinary record inside the run.
    public static let point = EventFlags(rawValue: EventRecordLayout.pointFlag)
    /// PM_EVENT_FLAG_START: the run's first record.
    public static let start = EventFlags(rawValue: EventRecordLayout.startFlag)
    /// PM_EVENT_FLAG_END: the run's last record; it carries the termination.
    public static let end = EventFlags(rawValue: EventRecordLayout.endFlag)
    /// PM_EVENT_FLAG_MISSED: a gap marker (the drop policy).
    public static let missed = EventFlags(rawValue: EventRecordLayout.missedFlag)
}
