import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// Every test that starts processes lives in this one serialized suite: they
/// reap with waitpid(-1) and count descriptors, which concurrent spawning
/// would disturb. Tests are synchronous on purpose: a spawned command's
/// PDEATHSIG follows the forking thread, which must outlive the command.
@Suite("Processes", .serialized, .timeLimit(.minutes(1)))
struct ProcessTests {
    // MARK: - Output and status

    @Test func stdoutIsCapturedExactlyAndStderrSeparately() throws {
        let finished = try run(shell(#"printf 'one\n\000two\r\nno newline'; printf 'to stderr\n' >&2"#))
        #expect(finished.stdout == Array("one\n".utf8) + [0] + Array("two\r\nno newline".utf8))
        #expect(finished.err == "to stderr\n")
        #expect(finished.termination == .exited(code: 0))
    }

    @Test func megabytesOfOutputArriveIntactThroughNonblockingPipes() throws {
        let finished = try run(shell("head -c 3000000 /dev/zero | tr '\\0' x; echo done >&2"))
        #expect(finished.stdout.count == 3_000_000)
        #expect(finished.stdout.allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(finished.err == "done\n")
    }

    @Test func exitCodeIsReported() throws {
        #expect(try run(shell("exit 3")).termination == .exited(code: 3))
    }

    @Test func deathBySignalIsReportedAsSignaled() throws {
        let finished = try run(shell("kill -TERM $$; sleep 5"))
        #expect(finished.termination == .signaled(signal: SIGTERM))
        #expect(finished.termination.shellStatus == 128 + SIGTERM)
    }

    // MARK: - Failures are synchronous and precise

    @Test func missingExecutableIsASpawnErrorNamingExecAndENOENT() throws {
        var request = shell("true")
        request.executablePath = "/usr/bin/nope"
        #expect(throws: SpawnError(stage: "exec /usr/bin/nope", errno: ENOENT)) { try Spawner.spawn(request) }
        do {
            _ = try Spawner.spawn(request)
        } catch {
            #expect(error.description == "exec /usr/bin/nope: No such file or directory")
        }
    }

    @Test func executableThatIsNotExecutableIsEACCES() throws {
        var request = shell("true")
        request.executablePath = "/etc/passwd"
        #expect(throws: SpawnError(stage: "exec /etc/passwd", errno: EACCES)) { try Spawner.spawn(request) }
    }

    @Test func relativeExecutablePathIsRejectedBeforeFork() throws {
        var request = shell("true")
        request.executablePath = "bin/sh"
        #expect { try Spawner.spawn(request) } throws: { ($0 as? SpawnError)?.errno == EINVAL }
    }

    @Test func failedSpawnLeavesNoZombieBehind() throws {
        var request = shell("true")
        request.executablePath = "/usr/bin/nope"
        for _ in 0..<5 { _ = try? Spawner.spawn(request) }
        // The shim reaped the failed child itself: nothing is left to reap.
        let zombies = ProcessInfoProbe.children(of: getpid()).filter { ProcessInfoProbe.stat(of: $0)?.state == "Z" }
        #expect(zombies.isEmpty)
    }

    // MARK: - The child's starting state

    @Test func childHasOnlyDescriptorsZeroOneAndTwo() throws {
        // A descriptor the agent forgot to mark close-on-exec must not leak either.
        let leaky = open("/dev/null", O_RDONLY)
        defer { close(leaky) }
        let process = try Spawner.spawn(shell("exec sleep 5"))
        defer {
            ProcessGroup.signal(process.pid, SIGKILL)
            _ = try? collect(process)
        }
        var fds: [String] = []
        eventually {
            // After exec (the comm is "sleep"), look at the child from outside.
            guard (try? String(contentsOfFile: "/proc/\(process.pid)/comm", encoding: .utf8)) == "sleep\n" else {
                return false
            }
            fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/fd")) ?? []).sorted()
            return true
        }
        #expect(fds == ["0", "1", "2"])
        let stdin = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/fd/0")
        #expect(stdin == "/dev/null")
    }

    @Test func childSignalMaskAndDispositionsAreDefaultWhateverTheAgentSet() throws {
        try Signals.block([SIGTERM, SIGHUP, SIGINT, SIGUSR1])
        defer { try? Signals.unblock([SIGTERM, SIGHUP, SIGINT, SIGUSR1]) }
        try Signals.ignore(SIGPIPE)  // the agent's setting; harmless to leave in the test process
        #expect(procStatus(getpid(), "SigIgn") != "0000000000000000")
        let finished = try run(shell("grep -E '^Sig(Blk|Ign):' /proc/self/status"))
        let fields = statusFields(finished.out)
        #expect(fields["SigBlk"] == "0000000000000000")
        #expect(fields["SigIgn"] == "0000000000000000")
    }

    @Test func environmentIsExactlyTheCleanOne() throws {
        setenv("PIPE_SYSTEM_TEST_SECRET", "leaked", 1)
        defer { unsetenv("PIPE_SYSTEM_TEST_SECRET") }
        var request = shell("")
        request.executablePath = "/usr/bin/env"
        request.arguments = ["env"]
        let finished = try run(request)
        let expected = LaunchPlanner.environment(
            for: RunAccount(name: "root", uid: 0, gid: 0, groups: [0], home: "/root"))
        #expect(expected.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
        #expect(
            expected.contains("LANG=C.UTF-8") && expected.contains("SHELL=/bin/sh") && expected.contains("LOGNAME=root")
        )
        #expect(finished.out.split(separator: "\n").map(String.init).sorted() == request.environment.sorted())
    }

    @Test func workingDirectoryIsRoot() throws {
        #expect(FileManager.default.currentDirectoryPath != "/")
        #expect(try run(shell("pwd")).out == "/\n")
    }

    @Test func childLeadsItsOwnSessionAndProcessGroup() throws {
        let process = try Spawner.spawn(shell("exec sleep 5"))
        defer {
            ProcessGroup.signal(process.pid, SIGKILL)
            _ = try? collect(process)
        }
        let stat = try #require(ProcessInfoProbe.stat(of: process.pid))
        #expect(stat.processGroup == process.pid)
        #expect(stat.session == process.pid)
        #expect(stat.parent == getpid())
        #expect(ProcessGroup.exists(process.pid))
    }

    @Test func noNewPrivilegesIsSetWhenAsked() throws {
        var request = shell("grep NoNewPrivs /proc/self/status")
        #expect(statusFields(try run(request).out)["NoNewPrivs"] == "0")
        request.noNewPrivileges = true
        #expect(statusFields(try run(request).out)["NoNewPrivs"] == "1")
    }

    // MARK: - Credentials (root only)

    @Test(.enabled(if: isRoot, "needs root")) func runningAsNobodyDropsUidGidAndGroups() throws {
        let finished = try run(
            shell(
                "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -u; id -g; id -G",
                userID: 65534, groupID: 65534, groups: []))
        let fields = statusFields(finished.out)
        #expect(fields["Uid"]?.split(whereSeparator: \.isWhitespace) == ["65534", "65534", "65534", "65534"])
        #expect(fields["Gid"]?.split(whereSeparator: \.isWhitespace) == ["65534", "65534", "65534", "65534"])
        #expect(fields["Groups"] == "")
        #expect(finished.out.hasSuffix("65534\n65534\n65534\n"))
        #expect(statusFields(finished.out)["CapEff"] == nil)
    }

    @Test(.enabled(if: isRoot, "needs root")) func supplementaryGroupsAreExactlyTheRequestedOnes() throws {
        let finished = try run(
            shell("grep '^Groups:' /proc/self/status", userID: 65534, groupID: 65534, groups: [4, 100]))
        #expect(statusFields(finished.out)["Groups"] == "4 100")
    }

    @Test(.enabled(if: isRoot, "needs root")) func nobodyWithoutCapabilityListHasNoCapabilities() throws {
        let finished = try run(shell("grep ^Cap /proc/self/status", userID: 65534, groupID: 65534))
        let fields = statusFields(finished.out)
        for key in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { #expect(fields[key] == "0000000000000000", "\(key)") }
    }

    @Test(.enabled(if: isRoot, "needs root")) func nobodyWithNetRawKeepsOnlyThatCapabilityAcrossExec() throws {
        let finished = try run(shell("grep ^Cap /proc/self/status", userID: 65534, groupID: 65534, capabilities: [13]))
        let fields = statusFields(finished.out)
        for key in ["CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"] {
            #expect(fields[key] == "0000000000002000", "\(key): \(fields[key] ?? "missing")")
        }
    }

    @Test(.enabled(if: isRoot, "needs root")) func rootWithAnEmptyCapabilityListIsPowerless() throws {
        // A file root can read only through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH.
        let path = "/tmp/pipe-system-nobodys-\(getpid())"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("secret".utf8)))
        defer { unlink(path) }
        chown(path, 65534, 65534)
        chmod(path, 0o600)
        #expect(try run(shell("cat \(path)")).out == "secret")
        let finished = try run(
            shell("grep ^Cap /proc/self/status; cat \(path) 2>/dev/null && echo read-it", capabilities: []))
        let fields = statusFields(finished.out)
        for key in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] { #expect(fields[key] == "0000000000000000", "\(key)") }
        #expect(!finished.out.contains("read-it"))
    }

    @Test(.enabled(if: isRoot, "needs root")) func workingDirectoryIsEnteredAsTheNewUser() throws {
        let dir = "/tmp/pipe-system-private-\(getpid())"
        mkdir(dir, 0o700)
        defer { rmdir(dir) }
        var request = shell("pwd", userID: 65534, groupID: 65534)
        request.workingDirectory = dir
        #expect(throws: SpawnError(stage: "chdir \(dir)", errno: EACCES)) { try Spawner.spawn(request) }
    }
}
