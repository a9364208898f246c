import Glibc
import PipeCore
import PipeSystem
import XCTest

/// XCTest, not swift-testing, on purpose. A child's SIGCHLD is process-directed:
/// the kernel hands it to any thread that does not block it, and a thread with
/// the default disposition discards it. The agent blocks its signals on the
/// main thread before any other thread exists. swift-testing's runner parks its
/// main thread in sigsuspend() with an empty mask, so there the main thread
/// swallows SIGCHLD (measured: the check failed about one run in three).
/// XCTest on Linux runs each test on the main thread, and the runtime's
/// Dispatch workers block all asynchronous signals: the agent's situation.
final class SignalFDMainThreadTests: XCTestCase {
    func testSignalFDReceivesSIGCHLDOfAnExitingCommand() throws {
        let signals = try SignalFD(signals: [SIGCHLD])
        defer {
            signals.close()
            try? Signals.unblock([SIGCHLD])
        }
        _ = signals.drain()
        let account = Accounts.user(id: getuid())
        let process = try Spawner.spawn(
            SpawnRequest(
                executablePath: "/bin/sh", arguments: ["sh", "-c", "exit 0"],
                environment: LaunchPlanner.environment(
                    for: RunAccount(name: account?.name ?? "?", uid: 0, gid: 0, groups: [], home: account?.home ?? "/")),
                userID: getuid(), groupID: getgid()))
        process.stdout.close()
        process.stderr.close()
        var set = PollSet()
        set.add(signals.descriptor, token: 42)
        XCTAssertEqual(try set.wait(timeoutMilliseconds: 10_000), [42])
        XCTAssertEqual(signals.drain(), [SIGCHLD])
        XCTAssertEqual(try Reaper.wait(for: process.pid), .exited(code: 0))
        XCTAssertEqual(signals.drain(), [])
    }
}
