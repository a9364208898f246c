import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// The pin race, as an attacker who can replace a program's path would run
/// it: the agent checks the bytes, the path is swapped for other bytes before
/// the exec, and what runs must still be what was checked.
@Suite("Pinned executables", .serialized, .timeLimit(.minutes(1)))
struct PinnedExecutablesTests {
    let directory: String

    init() throws {
        directory = "/tmp/pipe-pins-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    }

    /// Writes `bytes` to a new file and renames it over `path` (a new inode,
    /// as `mv` or an upgrade would do).
    private func replace(_ path: String, with bytes: [UInt8]) throws {
        let temporary = path + ".new"
        FileManager.default.createFile(atPath: temporary, contents: Data(bytes))
        chmod(temporary, 0o755)
        try #require(rename(temporary, path) == 0)
    }

    private func digest(_ bytes: [UInt8]) -> [UInt8] {
        let hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    private func spawn(_ file: ExecutableFile, arguments: [String]) throws -> Finished {
        var request = shell("")
        request.executablePath = file.path
        request.arguments = arguments
        request.executable = file.descriptor
        request.executableIsScript = file.isScript
        return try run(request)
    }

    @Test func aScriptReplacedAfterItsCheckStillRunsTheCheckedBytes() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tool"
        let original = Array("#!/bin/sh\necho checked \"$@\"\n".utf8)
        try replace(path, with: original)
        let pins = try PinnedExecutables()
        let file = try pins.open(path, pin: digest(original), requireTrusted: false).get()
        try replace(path, with: Array("#!/bin/sh\necho replaced\n".utf8))

        let finished = try spawn(file, arguments: ["tool", "x"])
        #expect(finished.out == "checked x\n", "\(finished.out) \(finished.err)")
        #expect(finished.termination == .exited(code: 0))

        // The next request sees the new bytes and refuses them.
        guard case .failure(.mismatch(let shownPath, _)) = pins.open(path, pin: digest(original), requireTrusted: false)
        else {
            Issue.record("the replaced script was not refused")
            return
        }
        #expect(shownPath == path)
    }

    @Test func aBinaryReplacedAfterItsCheckStillRunsTheCheckedBytes() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tool"
        let echo = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/echo")))
        try replace(path, with: echo)
        let pins = try PinnedExecutables()
        let file = try pins.open(path, pin: digest(echo), requireTrusted: false).get()
        #expect(!file.isScript)
        try replace(path, with: Array("#!/bin/sh\necho replaced\n".utf8))

        let finished = try spawn(file, arguments: ["echo", "checked"])
        #expect(finished.out == "checked\n", "\(finished.out) \(finished.err)")
    }

    @Test func bytesRewrittenInPlaceAreRefusedBeforeTheRun() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tool"
        let original = Array("#!/bin/sh\necho checked\n".utf8)
        try replace(path, with: original)
        let pins = try PinnedExecutables()
        _ = try pins.open(path, pin: digest(original), requireTrusted: false).get()
        // Same inode, same size: only the times tell; the cache must not
        // answer from the earlier digest.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: Data("#!/bin/sh\necho CHANGED\n".utf8.prefix(original.count)))
        try handle.close()
        let result = pins.open(path, pin: digest(original), requireTrusted: false)
        guard case .failure(.mismatch) = result else {
            Issue.record("rewritten bytes were not refused: \(result)")
            return
        }
    }
}
