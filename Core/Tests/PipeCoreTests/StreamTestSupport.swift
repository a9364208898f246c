// Helpers shared by the stream tests (line splitting, queues, run output).
// Names are specific so they cannot clash with other suites' helpers.
import PipeCore

func bytesOf(_ text: String) -> [UInt8] { Array(text.utf8) }

func textOf(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func stamp(_ seconds: Int64, _ microseconds: Int32 = 0) -> Timestamp {
    Timestamp(seconds: seconds, microseconds: microseconds)
}
