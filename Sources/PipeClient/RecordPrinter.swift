import PipeCore
import PipeSystem

/// Turns event records into the command's output: stdout lines to one
/// buffer, stderr lines to the other, byte for byte (each line, then the
/// newline it was cut at, unless the record says `continued` or `noeol`),
/// and keeps what the run says about its end (exit status, reason, lost
/// lines).
///
/// A noncopyable struct that owns both buffers and lives in a local of the
/// fetch loop: its state is then checked for exclusive access at compile
/// time, not by swift_beginAccess on every record as a class's would be.
public struct RecordPrinter: ~Copyable, EventRecordHandler {
    public static let lostLinesSuffix = "lost (the agent dropped them: the client fell behind)"

    private let ids: EventParameterIDs
    /// The command's stdout.
    public var out: OutputBuffer
    /// The command's stderr.
    public var err: OutputBuffer
    private let verbose: Bool
    /// Which records to print (nil: all).
    private let window: RecordWindow?
    /// Neither verbose nor windowed: a plain line may take the short path.
    private let plain: Bool
    /// Whether the last piece written to stdout / stderr was a `continued`
    /// piece, so the line is still open (no verbose prefix before the next).
    private var openLine = (out: false, err: false)
    private var lastWasStderr = false

    /// Lines the agent reported as dropped.
    public private(set) var lostLines = 0
    /// An END record arrived.
    public private(set) var sawEnd = false
    /// `pipe.exitstatus` of the END record, if the agent sends it.
    public private(set) var exitStatus: Int32?
    /// `pipe.endreason` of the END record, if the agent sends it.
    public private(set) var endReason: String?
    /// With a window: a record was seen (kept only then).
    private var sawRecord = false
    /// With a window: lines that had left the agent's buffer before this
    /// reader's first fetch (`RecordWindow.leadingGapIsHistory`).
    public private(set) var unretainedLines = 0
    /// With a window: the END record came before it (the run had ended
    /// before pmpipe attached).
    public private(set) var endedBeforeWindow = false

    public init(
        ids: EventParameterIDs, stdout: consuming OutputBuffer, stderr: consuming OutputBuffer,
        verbose: Bool, window: RecordWindow? = nil
    ) {
        self.ids = ids
        self.out = stdout
        self.err = stderr
        self.verbose = verbose
        self.window = window
        plain = !verbose && window == nil
    }

    @inline(__always)
    public mutating func handle(_ record: EventRecord) throws(OutputError) {
        // Almost every record is one stdout line and nothing else: print it
        // here, inlined into the decoder's loop, and leave the rest to
        // `handleInGeneral`. Same bytes and same flushes as that would give.
        if plain, record.flags & EventRecordLayout.endFlag == 0, record.parameterCount == 1, !lastWasStderr {
            let parameter = record.firstParameter
            if parameter.pmid == ids.line || parameter.pmid == ids.rawline {
                try out.appendLine(parameter.value)
                openLine.out = false
                return
            }
        }
        try handleInGeneral(record)
    }

    @inline(never)
    private mutating func handleInGeneral(_ record: EventRecord) throws(OutputError) {
        if let window {
            let first = !sawRecord
            sawRecord = true
            if record.flags & EventRecordLayout.missedFlag != 0 && first && window.leadingGapIsHistory {
                unretainedLines += record.missed
                return
            }
            switch window.place(Timestamp(seconds: Int64(record.seconds), microseconds: record.microseconds)) {
            case .inside:
                break
            case .before:
                if record.flags & EventRecordLayout.endFlag != 0 {
                    sawEnd = true
                    endedBeforeWindow = true
                    _ = noteParameters(of: record)
                }
                return
            case .after:
                return
            }
        }
        if record.flags & EventRecordLayout.missedFlag != 0 {
            try reportMissed(record)
            return
        }
        if record.flags & EventRecordLayout.endFlag != 0 { sawEnd = true }
        let (payload, toStderr, continued, noeol) = noteParameters(of: record)
        guard let payload else { return }
        // A line is followed by the newline it was cut at, unless it is a
        // piece of a longer line or the stream's last line, which had none.
        let newline = !continued && !noeol

        // Keep the order of stdout and stderr lines within a batch: flush
        // the other stream's buffer when the stream changes.
        if toStderr != lastWasStderr {
            if toStderr { try out.flush() } else { try? err.flush() }
            lastWasStderr = toStderr
        }
        if toStderr {
            if verbose && !openLine.err { try? err.append(prefix(record)) }
            // The command's stderr matters less than its stdout: a closed
            // stderr must not end the run.
            try? err.append(payload)
            if newline { try? err.append(byte: 0x0A) }
            openLine.err = continued
        } else {
            if verbose && !openLine.out { try out.append(prefix(record)) }
            try out.append(payload)
            if newline { try out.append(byte: 0x0A) }
            openLine.out = continued
        }
    }

    /// Reads a record's parameters: keeps what it says about the run's end
    /// (exit status, reason) and returns its line, if it has one.
    private mutating func noteParameters(of record: EventRecord)
        -> (payload: UnsafeRawBufferPointer?, toStderr: Bool, continued: Bool, noeol: Bool)
    {
        var payload: UnsafeRawBufferPointer?
        var toStderr = false
        var continued = false
        var noeol = false
        let ids = self.ids
        var exitStatus = self.exitStatus
        var endReason = self.endReason
        record.forEachParameter { parameter in
            switch parameter.pmid {
            case ids.line, ids.rawline:
                payload = parameter.value
                toStderr = false
            case ids.errline, ids.rawerrline:
                payload = parameter.value
                toStderr = true
            case ids.continued:
                continued = (parameter.int32Value ?? 0) != 0
            case ids.noeol:
                noeol = (parameter.int32Value ?? 0) != 0
            case ids.exitstatus:
                exitStatus = parameter.int32Value
            case ids.endreason:
                endReason = String(decoding: parameter.value, as: UTF8.self)
            default:
                break
            }
        }
        self.exitStatus = exitStatus
        self.endReason = endReason
        return (payload, toStderr, continued, noeol)
    }

    private mutating func reportMissed(_ record: EventRecord) throws(OutputError) {
        lostLines += record.missed
        let noun = record.missed == 1 ? "line" : "lines"
        if verbose {
            if openLine.out {
                try out.append(byte: 0x0A)
                openLine.out = false
            }
            try out.append(prefix(record) + "\(record.missed) \(noun) \(Self.lostLinesSuffix)\n")
        }
        // At that point of the output: what came before is written first.
        try out.flush()
        try? err.flush()
        try? err.append("pmpipe: \(record.missed) \(noun) \(Self.lostLinesSuffix)\n")
        try? err.flush()
    }

    /// `14:03:07.123456 [start] `: the record's local time and flags.
    func prefix(_ record: EventRecord) -> String {
        let time = Clock.localTime(secondsSinceEpoch: Int64(record.seconds))
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let micros = String(record.microseconds)
        let padded = String(repeating: "0", count: max(0, 6 - micros.count)) + micros
        return "\(two(time.hour)):\(two(time.minute)):\(two(time.second)).\(padded) [\(Self.flagNames(record.flags))] "
    }

    /// `start`, `point`, `end`, `missed`, ... joined with commas.
    public static func flagNames(_ flags: UInt32) -> String {
        typealias Layout = EventRecordLayout
        let known: [(UInt32, String)] = [
            (Layout.startFlag, "start"), (Layout.pointFlag, "point"), (Layout.endFlag, "end"),
            (Layout.idFlag, "id"), (Layout.parentFlag, "parent"), (Layout.missedFlag, "missed"),
        ]
        let names = known.filter { flags & $0.0 != 0 }.map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
}
