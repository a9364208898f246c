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
        let pins = try PinnedExecutables(trustedOwner: getuid())
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
        let pins = try PinnedExecutables(trustedOwner: getuid())
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
        let pins = try PinnedExecutables(trustedOwner: getuid())
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

    /// A user who may replace a program's path swaps in a FIFO between the
    /// planner's stat and the agent's open: opening it would block the agent's
    /// only thread until a writer came (pmcd drops the agent after 5 s).
    @Test func aFIFOWhereTheProgramWasIsRefusedWithoutBlocking() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tool"
        try #require(mkfifo(path, 0o644) == 0)
        let pins = try PinnedExecutables(trustedOwner: getuid())
        nonisolated(unsafe) var result: Result<ExecutableFile, ExecutableRefusal>?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            result = pins.open(path, pin: nil, requireTrusted: false)
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut {
            // Unblock the open (a writer arrives) so the test can end.
            let writer = Glibc.open(path, O_WRONLY | O_NONBLOCK)
            done.wait()
            if writer >= 0 { close(writer) }
            Issue.record("opening a FIFO as a program blocked the caller")
            return
        }
        guard case .failure(.unreadable(let reason)) = result else {
            Issue.record("a FIFO was accepted as a program: \(String(describing: result))")
            return
        }
        #expect(reason == "\(path) is not a regular file")
    }

    /// A pin on a file that someone else than root may write checks bytes
    /// that can change before (or while) they run: refused, saying why.
    @Test func aPinnedProgramSomeoneElseMayWriteIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/tool"
        let original = Array("#!/bin/sh\necho checked\n".utf8)
        try replace(path, with: original)
        chmod(path, 0o777)
        let pins = try PinnedExecutables(trustedOwner: getuid())
        guard case .failure(.untrusted(let reason)) = pins.open(path, pin: digest(original), requireTrusted: false)
        else {
            Issue.record("a pinned program writable by anyone was accepted")
            return
        }
        #expect(reason.contains("\(path) is writable by group or others (mode 777)"), "\(reason)")
        #expect(reason.contains("sha256"), "\(reason)")
        // Without a pin, a command that runs as an ordinary user may run it.
        #expect((try? pins.open(path, pin: nil, requireTrusted: false).get()) != nil)
    }

    /// A root command's program reached through a symbolic link that lives
    /// in a directory another user owns: that user can point the link at any
    /// of root's programs (which passes an owner check of the final file).
    /// Needs root (to give the directory away).
    @Test func aLinkInAnotherUsersDirectoryCannotChooseRootsProgram() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard getuid() == 0 else { return }
        let theirs = directory + "/theirs"
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: false)
        try #require(symlink("/bin/echo", theirs + "/tool") == 0)
        try #require(lchown(theirs + "/tool", 65534, 65534) == 0)
        try #require(chown(theirs, 65534, 65534) == 0)
        let path = directory + "/tool"
        try #require(symlink(theirs + "/tool", path) == 0)
        let pins = try PinnedExecutables()
        guard case .failure(.untrusted(let reason)) = pins.open(path, pin: nil, requireTrusted: true) else {
            Issue.record("a program chosen through another user's link was accepted for root")
            return
        }
        #expect(reason == "\(theirs) is owned by uid 65534, who could replace what runs as root", "\(reason)")

        // Root's own link to root's program, in a sticky /tmp: fine.
        try FileManager.default.removeItem(atPath: path)
        try #require(symlink("/bin/echo", path) == 0)
        #expect((try? pins.open(path, pin: nil, requireTrusted: true).get()) != nil)
    }
}
