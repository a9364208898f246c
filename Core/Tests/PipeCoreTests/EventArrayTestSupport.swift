// Reading event arrays back in tests with PipeCore's own decoder (pmpipe's
// reader), for the suites that check what the agent's output path says
// rather than how it lays the bytes out (EventArrayWriterTests has an
// independent reader for that).
import PipeCore

/// A parameter copied out of the decoding callback.
struct DecodedParameter: Equatable, CustomStringConvertible {
    var pmid: UInt32
    var type: UInt32
    var value: [UInt8]

    var description: String { "\(pmid):\(type)=\(String(reflecting: textOf(value)))" }
}

/// A record copied out of the decoding callback.
struct DecodedRecord: Equatable, CustomStringConvertible {
    var seconds: Int32
    var microseconds: Int32
    var flags: UInt32
    var missed: Int
    var parameters: [DecodedParameter]

    var description: String { "\(seconds).\(microseconds) flags=\(flags) missed=\(missed) \(parameters)" }

    var time: Timestamp { Timestamp(seconds: Int64(seconds), microseconds: microseconds) }

    /// The value of the first parameter with this PMID.
    func value(of pmid: UInt32) -> [UInt8]? { parameters.first { $0.pmid == pmid }?.value }
}

/// Collects every record the decoder hands over.
struct RecordCollector: EventRecordHandler {
    var records: [DecodedRecord] = []

    mutating func handle(_ record: EventRecord) {
        var parameters: [DecodedParameter] = []
        record.forEachParameter {
            parameters.append(DecodedParameter(pmid: $0.pmid, type: $0.type, value: Array($0.value)))
        }
        records.append(
            DecodedRecord(
                seconds: record.seconds, microseconds: record.microseconds, flags: record.flags,
                missed: record.missed, parameters: parameters))
    }
}

/// Decodes a whole array with `EventArrayDecoder`.
func decodeEventArray(_ array: UnsafeRawBufferPointer, layout: TypeLengthLayout = .rightToLeft) throws
    -> [DecodedRecord]
{
    var collector = RecordCollector()
    let count = try EventArrayDecoder.decode(array, layout: layout, into: &collector)
    precondition(count == collector.records.count, "the decoder's count is the records it handed over")
    return collector.records
}

extension RunOutput {
    /// One fetch as the agent does it: `encodeBatch` into `writer`, then the
    /// array decoded. Returns what `encodeBatch` said it added, and the records.
    mutating func fetchBatch(
        into writer: EventArrayWriter, maxRecords: Int = .max, maxBytes: Int = .max,
        endReason: String = "exited"
    ) -> (added: Int, records: [DecodedRecord]) {
        writer.reset()
        let added = writer.encode {
            encodeBatch(into: &$0, maxRecords: maxRecords, maxBytes: maxBytes, endReason: endReason)
        }
        let array = writer.finish()
        do {
            return (added, try decodeEventArray(array, layout: writer.layout))
        } catch {
            preconditionFailure("the agent wrote an array its reader refuses: \(error)")
        }
    }
}
