import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// Some checks need a process of their own: the test binary re-executes
/// itself with one test selected and these variables set.
private let roleVariable = "PIPE_SYSTEM_TEST_HELPER"
private let reportVariable = "PIPE_SYSTEM_TEST_HELPER_OUT"
let helperRole = ProcessInfo.processInfo.environment[roleVariable]

/// In a helper: hands `text` to the parent test (atomically, via a file).
func reportFromHelper(_ text: String) throws {
    let path = try #require(ProcessInfo.processInfo.environment[reportVariable])
    try text.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
    rename(path + ".tmp", path)
}

/// Starts the test binary (through Spawner) running only `testName` as the
/// helper for `role`, and returns its report.
func runHelper(
    _ role: String, testName: String, waitForExit: Bool = true,
    started: (Int32) -> Void = { _ in }
) throws -> String {
    let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let reportFile = "/tmp/pipe-system-helper-\(role)-\(getpid())"
    unlink(reportFile)
    defer { unlink(reportFile) }
    let argv = [binary, "--testing-library", "swift-testing", "--filter", testName]
    var request = shell("")
    request.executablePath = argv[0]
    request.arguments = argv
    request.environment += ["\(roleVariable)=\(role)", "\(reportVariable)=\(reportFile)"]
    let helper = try Spawner.spawn(request)
    started(helper.pid)
    var report: String?
    eventually(seconds: 30) {
        report = try? String(contentsOfFile: reportFile, encoding: .utf8)
        return report != nil
    }
    if waitForExit {
        let finished = try collect(helper, timeoutSeconds: 30)
        #expect(finished.termination == .exited(code: 0), "helper: \(finished.out)")
    } else {
        helper.stdout.close()
        helper.stderr.close()
    }
    return try #require(report, "helper \(role) reported nothing")
}

extension ProcessTests {
    // MARK: - Process groups

    @Test func groupKillTakesDownBackgroundGrandchildren() throws {
        let process = try Spawner.spawn(shell("sleep 100 & sleep 100 & echo started; wait"))
        #expect(try readLine(process.stdout) == "started")
        #expect(eventually { members(ofGroup: process.pid).count == 3 })
        let grandchildren = members(ofGroup: process.pid).filter { $0 != process.pid }
        #expect(ProcessGroup.signal(process.pid, SIGTERM))
        let finished = try collect(process)
        #expect(finished.termination == .signaled(signal: SIGTERM))
        // Orphans go to init or to us (if a test made us a subreaper): reap as needed.
        #expect(
            eventually {
                _ = Reaper.reapAll()
                return grandchildren.allSatisfy(ProcessInfoProbe.isDeadOrZombie)
            })
        #expect(
            eventually {
                _ = Reaper.reapAll()
                return !ProcessGroup.exists(process.pid)
            })
        #expect(ProcessGroup.signal(process.pid, SIGTERM) == false)
    }

    @Test func commandIgnoringSIGTERMSurvivesItButNotSIGKILL() throws {
        let process = try Spawner.spawn(shell("trap '' TERM; echo ready; exec sleep 100"))
        #expect(try readLine(process.stdout) == "ready")
        #expect(ProcessGroup.signal(process.pid, SIGTERM))
        usleep(300_000)
        #expect(!ProcessInfoProbe.isDeadOrZombie(process.pid))
        #expect(ProcessGroup.exists(process.pid))
        #expect(ProcessGroup.signal(process.pid, SIGKILL))
        #expect(try collect(process).termination == .signaled(signal: SIGKILL))
        #expect(!ProcessGroup.exists(process.pid))
    }

    // MARK: - Reaping

    @Test func subreaperReapsAnOrphanedGrandchild() throws {
        try Reaper.becomeSubreaper()
        let process = try Spawner.spawn(shell("sleep 0.3 & echo $!"))
        let grandchild = try #require(Int32(try readLine(process.stdout)))
        #expect(try collect(process).termination == .exited(code: 0))
        // The shell is gone; its background child is now ours, not init's.
        #expect(ProcessInfoProbe.stat(of: grandchild)?.parent == getpid())
        var reaped: [Int32: Termination] = [:]
        #expect(
            eventually {
                for (pid, how) in Reaper.reapAll() { reaped[pid] = how }
                return reaped[grandchild] != nil
            })
        #expect(reaped[grandchild] == .exited(code: 0))
        #expect(ProcessInfoProbe.stat(of: grandchild) == nil)
    }

    @Test func reapAllReturnsEveryExitedChildWithItsStatus() throws {
        var spawned: [Int32: Termination] = [:]
        for code in 0..<5 {
            let process = try Spawner.spawn(shell("exit \(code)"))
            process.stdout.close()
            process.stderr.close()
            spawned[process.pid] = .exited(code: Int32(code))
        }
        var reaped: [Int32: Termination] = [:]
        #expect(
            eventually {
                for (pid, how) in Reaper.reapAll() { reaped[pid] = how }
                return spawned.keys.allSatisfy { reaped[$0] != nil }
            })
        for (pid, how) in spawned { #expect(reaped[pid] == how) }
        #expect(Reaper.reapAll().isEmpty)
    }

    // MARK: - Parent death

    /// Runs only inside the helper process started by the next test: spawns a
    /// long sleep through Spawner, reports its pid, and waits to be killed.
    @Test(.enabled(if: helperRole == "pdeathsig", "helper process only"))
    func parentDeathHelper() throws {
        let process = try Spawner.spawn(shell("exec sleep 100"))
        try reportFromHelper("\(process.pid)")
        sleep(50)  // this thread (the spawning one) stays alive until SIGKILL
    }

    @Test func commandDiesWhenTheAgentIsKilled() throws {
        var helperPid: Int32 = 0
        let report = try runHelper("pdeathsig", testName: "parentDeathHelper", waitForExit: false) { helperPid = $0 }
        let command = try #require(Int32(report))
        #expect(!ProcessInfoProbe.isDeadOrZombie(command))
        #expect(ProcessInfoProbe.stat(of: command)?.parent == helperPid)
        kill(helperPid, SIGKILL)
        #expect(try Reaper.wait(for: helperPid) == .signaled(signal: SIGKILL))
        #expect(
            eventually {
                _ = Reaper.reapAll()
                return ProcessInfoProbe.isDeadOrZombie(command)
            }, "PDEATHSIG did not kill \(command)")
        ProcessGroup.signal(command, SIGKILL)  // cleanup if the expectation failed
        _ = Reaper.reapAll()
    }

    // MARK: - Descriptors

    @Test func twoHundredSpawnsLeakNoDescriptor() throws {
        let before = try #require(ProcessInfoProbe.openDescriptorCount(pid: getpid()))
        var missing = shell("true")
        missing.executablePath = "/usr/bin/nope"
        for index in 0..<200 {
            #expect(try run(shell("echo \(index); echo e >&2")).out == "\(index)\n")
            if index % 4 == 0 { _ = try? Spawner.spawn(missing) }
        }
        // Other suites may hold a descriptor briefly; a leak stays.
        var after = 0
        #expect(
            eventually(seconds: 3) {
                after = ProcessInfoProbe.openDescriptorCount(pid: getpid()) ?? -1
                return after <= before
            },
            "descriptors before \(before), after \(after)")
    }

    @Test func probesReadThisProcess() throws {
        #expect((ProcessInfoProbe.residentSetBytes(pid: getpid()) ?? 0) > 1 << 20)
        #expect((ProcessInfoProbe.openDescriptorCount(pid: getpid()) ?? 0) >= 3)
        let process = try Spawner.spawn(shell("exec sleep 5"))
        #expect(ProcessInfoProbe.children(of: getpid()).contains(process.pid))
        ProcessGroup.signal(process.pid, SIGKILL)
        _ = try collect(process)
        #expect(ProcessInfoProbe.openDescriptorCount(pid: 999_999_999) == nil)
    }

    // MARK: - Signals and poll

    @Test func signalFDDeliversSignalsSentToThisThreadDeduplicated() throws {
        let signals = try SignalFD(signals: [SIGUSR1, SIGUSR2])
        defer {
            signals.close()
            try? Signals.unblock([SIGUSR1, SIGUSR2])
        }
        pthread_kill(pthread_self(), SIGUSR2)
        pthread_kill(pthread_self(), SIGUSR1)
        pthread_kill(pthread_self(), SIGUSR2)
        #expect(Set(signals.drain()) == [SIGUSR1, SIGUSR2])
    }
}

@Suite("Poll", .timeLimit(.minutes(1)))
struct PollTests {
    @Test func pollSetReportsOnlyTheReadablePipe() throws {
        let quiet = try FileDescriptor.pipe()
        let busy = try FileDescriptor.pipe()
        defer { for end in [quiet.read, quiet.write, busy.read, busy.write] { end.close() } }
        var set = PollSet()
        set.add(quiet.read, token: 1)
        set.add(busy.read, token: 2)
        #expect(try set.wait(timeoutMilliseconds: 0) == [])
        _ = try [UInt8(7)].withUnsafeBytes { try busy.write.write($0) }
        #expect(try set.wait(timeoutMilliseconds: 1000) == [2])
    }

    @Test func closedWriterMakesTheReaderReadyAndReadSeesEndOfFile() throws {
        let pipe = try FileDescriptor.pipe()
        defer { pipe.read.close() }
        try pipe.read.setNonBlocking()
        var byte: UInt8 = 0
        #expect(try withUnsafeMutableBytes(of: &byte) { try pipe.read.read(into: $0) } == .wouldBlock)
        pipe.write.close()
        var set = PollSet()
        set.add(pipe.read, token: 9)
        #expect(try set.wait(timeoutMilliseconds: 1000) == [9])
        #expect(try withUnsafeMutableBytes(of: &byte) { try pipe.read.read(into: $0) } == .endOfFile)
    }

    @Test func readOnAClosedDescriptorThrowsSystemErrorWithEBADF() throws {
        var byte: UInt8 = 0
        #expect(throws: SystemError(operation: "read(fd 987654)", errno: EBADF)) {
            try withUnsafeMutableBytes(of: &byte) { try FileDescriptor(rawValue: 987654).read(into: $0) }
        }
    }

    @Test func systemErrorNamesTheOperationAndTheErrnoText() {
        #expect(
            SystemError(operation: "setgid(65534)", errno: EPERM).description
                == "setgid(65534): Operation not permitted")
        #expect(SpawnError(stage: "setuid(1000)", errno: EPERM).description == "setuid(1000): Operation not permitted")
    }

    @Test func clocksMoveForwardAndWallClockIsNow() {
        let a = Clock.monotonicNanoseconds()
        usleep(2000)
        #expect(Clock.monotonicNanoseconds() - a >= 2_000_000)
        #expect(abs(Clock.now().seconds - Int64(time(nil))) <= 1)
    }
}
