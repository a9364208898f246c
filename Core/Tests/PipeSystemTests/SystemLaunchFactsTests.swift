import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// `path under DIR` against a real directory tree: symbolic links in and
/// out, `..`, absolute paths, and directories the client may write to.
@Suite struct PathResolutionTests {
    let root: String
    let facts = SystemLaunchFacts()
    /// An unprivileged client that owns nothing here.
    let client = ClientIdentity(uid: 54321, gid: 54321, userName: "someone", groupNames: [], groupIDs: [54321])

    init() throws {
        root =
            FileManager.default.temporaryDirectory.appendingPathComponent("pathcheck-\(getpid())-\(UUID().uuidString)")
            .path
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/logs/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/outside", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/logs/open", withIntermediateDirectories: true)
        chmod(root + "/logs/open", 0o777)
        for file in ["logs/a.log", "logs/sub/b.log", "outside/secret", "logs/open/c.log"] {
            _ = fm.createFile(atPath: root + "/" + file, contents: Data("x\n".utf8))
        }
        try fm.createSymbolicLink(atPath: root + "/logs/inside-link", withDestinationPath: "sub/b.log")
        try fm.createSymbolicLink(atPath: root + "/logs/escape-relative", withDestinationPath: "../outside/secret")
        try fm.createSymbolicLink(atPath: root + "/logs/escape-absolute", withDestinationPath: root + "/outside/secret")
        try fm.createSymbolicLink(atPath: root + "/logs/proc-magic", withDestinationPath: "/proc/self/root/etc/passwd")
        // The test's temporary directory may itself be writable by others (/tmp): the
        // writability check starts at DIR, so the tree above does not matter.
        chmod(root + "/logs", 0o755)
        chmod(root + "/logs/sub", 0o755)
    }

    func resolve(_ text: String, as who: ClientIdentity? = nil) -> Result<String, FactRefusal> {
        facts.resolvePath(text, under: root + "/logs", for: who ?? client)
    }

    @Test func relativeAndAbsolutePathsInsideResolve() {
        #expect(resolve("a.log") == .success(root + "/logs/a.log"))
        #expect(resolve("sub/b.log") == .success(root + "/logs/sub/b.log"))
        #expect(resolve(root + "/logs/sub/b.log") == .success(root + "/logs/sub/b.log"))
        #expect(resolve("sub/../a.log") == .success(root + "/logs/a.log"))
        #expect(resolve("inside-link") == .success(root + "/logs/sub/b.log"))
        #expect(resolve(".") == .success(root + "/logs"))
    }

    @Test(arguments: [
        "../outside/secret", "sub/../../outside/secret", "escape-relative", "escape-absolute",
        "/etc/passwd", "proc-magic", "../../../../../../etc/shadow",
    ])
    func nothingLeadsOutOfTheDirectory(_ text: String) {
        guard case .failure(let refusal) = resolve(text) else {
            Issue.record("\(text) resolved")
            return
        }
        #expect(
            refusal.reason.contains("out of") || refusal.reason.contains("not a path under")
                || refusal.reason.contains("does not exist"), "\(text): \(refusal.reason)")
    }

    @Test func aMissingPathIsRefused() {
        #expect(resolve("nope.log") == .failure(FactRefusal("does not exist under \(root)/logs")))
    }

    @Test func aPathInADirectoryTheClientMayWriteIsRefusedUnlessTheClientIsRoot() {
        guard case .failure(let refusal) = resolve("open/c.log") else {
            Issue.record("a world-writable directory was accepted")
            return
        }
        #expect(refusal.reason.hasPrefix("lies under \(root)/logs/open, which you may write to"))
        let root0 = ClientIdentity(uid: 0, gid: 0, userName: "root", groupNames: ["root"], groupIDs: [0])
        #expect(resolve("open/c.log", as: root0) == .success(root + "/logs/open/c.log"))
        // A directory the client's group may write.
        chmod(root + "/logs/sub", 0o775)
        chown(root + "/logs/sub", 0, 54321)
        defer { chmod(root + "/logs/sub", 0o755) }
        #expect((try? resolve("sub/b.log").get()) == nil)
    }
    /// The attack: the client owns a 0555 directory under DIR. It may chmod
    /// it back after the check and swap a subdirectory for a link to /etc.
    @Test func aPathInADirectoryTheClientOwnsIsRefusedWhateverItsMode() throws {
        try FileManager.default.createDirectory(atPath: root + "/logs/mine/sub", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/logs/mine/sub/d.log", contents: Data("x\n".utf8))
        chmod(root + "/logs/mine/sub", 0o755)
        chown(root + "/logs/mine", 54321, 54321)
        chmod(root + "/logs/mine", 0o555)
        defer { chmod(root + "/logs/mine", 0o755) }
        #expect(
            resolve("mine/sub/d.log")
                == .failure(
                    FactRefusal(
                        "lies under \(root)/logs/mine, which you own, and so may make writable whatever its mode, "
                            + "so it could change between the check and the command's use of it")))
        let other = ClientIdentity(uid: 54322, gid: 54322, userName: "other", groupNames: [], groupIDs: [54322])
        #expect(resolve("mine/sub/d.log", as: other) == .success(root + "/logs/mine/sub/d.log"))
    }

    /// A directory with an access ACL counts as writable, whatever the ACL says.
    @Test func aPathInADirectoryWithAnACLIsRefused() throws {
        try FileManager.default.createDirectory(atPath: root + "/logs/acl", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/logs/acl/e.log", contents: Data("x\n".utf8))
        chmod(root + "/logs/acl", 0o755)
        // user::rwx user:54321:r-x group::r-x mask::r-x other::r-x in the kernel's xattr layout
        // (version 2, then tag, permissions, id): an ACL that grants nothing, and still counts.
        var bytes: [UInt8] = [2, 0, 0, 0]
        let entries: [(UInt16, UInt16, UInt32)] = [
            (0x01, 7, .max), (0x02, 5, 54321), (0x04, 5, .max), (0x10, 5, .max), (0x20, 5, .max),
        ]
        for (tag, perm, id) in entries {
            bytes += [UInt8(tag & 0xff), UInt8(tag >> 8), UInt8(perm), 0]
            bytes += [UInt8(id & 0xff), UInt8((id >> 8) & 0xff), UInt8((id >> 16) & 0xff), UInt8(id >> 24)]
        }
        guard testSetxattr(root + "/logs/acl", "system.posix_acl_access", bytes, bytes.count, 0) == 0 else {
            // A file system without ACLs: nothing to test here.
            return
        }
        guard case .failure(let refusal) = resolve("acl/e.log") else {
            Issue.record("a directory with an ACL was accepted")
            return
        }
        #expect(refusal.reason.hasPrefix("lies under \(root)/logs/acl, which carries a POSIX ACL"), "\(refusal)")
    }
}

/// setxattr(2), which Swift's Glibc module does not declare (<sys/xattr.h>).
@_silgen_name("setxattr")
private func testSetxattr(
    _ path: UnsafePointer<CChar>, _ name: UnsafePointer<CChar>, _ value: UnsafeRawPointer, _ size: Int, _ flags: Int32
) -> Int32

@Suite struct ProcessAndDeviceFactsTests {
    let facts = SystemLaunchFacts()

    @Test func theCredentialsOfAProcessAreItsFourUidsAndFourGids() {
        let own = facts.processCredentials(getpid())
        #expect(own?.uids == [getuid(), geteuid(), geteuid(), geteuid()])
        #expect(own?.gids == [getgid(), getegid(), getegid(), getegid()])
        #expect(facts.processCredentials(1)?.uids == [0, 0, 0, 0])
        #expect(facts.processCredentials(Int32.max) == nil)
    }

    @Test func blockDevicesAreWhatSysClassBlockHas() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/block")) ?? []
        if let first = names.first { #expect(facts.blockDeviceExists(first)) }
        #expect(!facts.blockDeviceExists("no-such-disk"))
        #expect(!facts.blockDeviceExists("../block"))
        #expect(!facts.blockDeviceExists("."))
    }

    @Test func accountsAreResolvedWhenAConfigurationIsPrepared() throws {
        let engine = LiteralEngine()
        let config = try Configuration.parse(
            [ConfigSource(name: "p", text: "a root echo\nb nobody echo\nc no-such-user echo\n")],
            engine: engine)
        facts.prepare(for: config)
        #expect(facts.account(named: "root")?.uid == 0)
        #expect(facts.account(named: "nobody")?.uid == 65534)
        #expect(facts.account(named: "no-such-user") == nil)
        #expect(facts.account(named: "daemon") == nil, "only the configuration's accounts are cached")
        #expect(SystemLaunchFacts.lookUpAccount("0")?.name == "root")
    }
}

/// Enough of an engine to parse a configuration without patterns.
struct LiteralEngine: PatternEngine {
    var maximumPatternLength: Int { 0 }
    func compile(_ pattern: String) throws(PatternError) -> any CompiledPattern {
        throw PatternError("no patterns here")
    }
}

/// A run of a program that is not installed is refused in the words
/// `pmdapipe -C` warns with, naming the program and where it was looked for,
/// not with the stat(2) that failed.
@Test func aProgramThatIsNotInstalledIsNamedAsMissing() throws {
    let facts = SystemLaunchFacts()
    #expect(
        facts.resolveProgram("no-such-program-here")
            == .failure(FactRefusal("is not installed (not found in \(LaunchPlanner.fixedPath))")))
    #expect(facts.resolveProgram("/nope/no-such-program") == .failure(FactRefusal("is not installed (no such file)")))
    #expect(try facts.resolveProgram("sh").get() == Executables.resolve("sh"))
    guard case .failure(let refusal) = facts.resolveProgram("/etc/passwd") else {
        Issue.record("a file that is not executable was accepted")
        return
    }
    #expect(refusal.reason.hasPrefix("cannot be run: "), "\(refusal.reason)")
}
