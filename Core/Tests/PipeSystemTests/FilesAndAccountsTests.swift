import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// A scratch directory owned by the test's user, mode 0755, removed afterwards.
final class Scratch {
    let path: String

    init() {
        var template = Array("/tmp/pipe-system-config-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        chmod(path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ text: String, mode: mode_t = 0o644) -> String {
        let file = "\(path)/\(name)"
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        chmod(file, mode)
        return file
    }

    func mkdir(_ name: String, mode: mode_t = 0o755) -> String {
        let dir = "\(path)/\(name)"
        Glibc.mkdir(dir, mode)
        chmod(dir, mode)
        return dir
    }
}

@Suite("ConfigFiles", .timeLimit(.minutes(1)))
struct ConfigFilesTests {
    let owner = getuid()

    @Test func mainFileComesFirstThenDirectoryFilesInByteOrderSkippingBackups() throws {
        let scratch = Scratch()
        let main = scratch.write("pipe.conf", "main\n")
        let dir = scratch.mkdir("pipe.conf.d")
        for name in [
            "b.conf", "a.conf", "B.conf", "10-first", ".hidden", "c.conf~", "d.rpmsave", "e.rpmnew",
            "f.dpkg-old", "g.dpkg-new", "h.dpkg-dist",
        ] {
            scratch.write("pipe.conf.d/\(name)", name)
        }
        _ = scratch.mkdir("pipe.conf.d/subdir")
        let sources = try ConfigFiles.load(mainFile: main, directory: dir, trustedOwner: owner)
        #expect(sources.map(\.name) == [main, "\(dir)/10-first", "\(dir)/B.conf", "\(dir)/a.conf", "\(dir)/b.conf"])
        #expect(sources.map(\.text) == ["main\n", "10-first", "B.conf", "a.conf", "b.conf"])
    }

    @Test func missingMainFileAndDirectoryGiveNothing() throws {
        let scratch = Scratch()
        #expect(
            try ConfigFiles.load(
                mainFile: "\(scratch.path)/none", directory: "\(scratch.path)/none.d", trustedOwner: owner
            ).isEmpty)
        #expect(try ConfigFiles.load(mainFile: nil, directory: nil).isEmpty)
    }

    @Test func groupWritableFileIsRefusedWithItsPathAndTheReason() throws {
        let scratch = Scratch()
        let dir = scratch.mkdir("d")
        scratch.write("d/ok.conf", "fine")
        let bad = scratch.write("d/bad.conf", "evil", mode: 0o664)
        #expect(
            throws: ConfigFileError(
                path: bad, reason: "file writable by group or others (mode 0664); refusing to read it")
        ) {
            try ConfigFiles.load(mainFile: nil, directory: dir, trustedOwner: owner)
        }
        do {
            _ = try ConfigFiles.load(mainFile: nil, directory: dir, trustedOwner: owner)
        } catch {
            #expect(error.description.hasPrefix("\(bad): "))
        }
    }

    @Test func worldWritableMainFileIsRefused() throws {
        let scratch = Scratch()
        let main = scratch.write("pipe.conf", "x", mode: 0o646)
        #expect { try ConfigFiles.load(mainFile: main, directory: nil, trustedOwner: owner) } throws: {
            ($0 as? ConfigFileError)?.path == main
        }
    }

    @Test func writableDirectoryIsRefused() throws {
        let scratch = Scratch()
        let dir = scratch.mkdir("d", mode: 0o775)
        #expect { try ConfigFiles.load(mainFile: nil, directory: dir, trustedOwner: owner) } throws: {
            ($0 as? ConfigFileError)
                == ConfigFileError(
                    path: dir, reason: "directory writable by group or others (mode 0775); refusing to read it")
        }
    }

    @Test func symlinkToAWritableFileIsRefusedAndToAGoodOneIsRead() throws {
        let scratch = Scratch()
        let dir = scratch.mkdir("d")
        let good = scratch.write("good", "good")
        let bad = scratch.write("bad", "bad", mode: 0o666)
        symlink(good, "\(dir)/1-good.conf")
        #expect(try ConfigFiles.load(mainFile: nil, directory: dir, trustedOwner: owner).map(\.text) == ["good"])
        symlink(bad, "\(dir)/2-bad.conf")
        #expect { try ConfigFiles.load(mainFile: nil, directory: dir, trustedOwner: owner) } throws: {
            ($0 as? ConfigFileError)?.path == "\(dir)/2-bad.conf"
        }
    }

    @Test(.enabled(if: isRoot, "needs root")) func fileOwnedByAnotherUserIsRefused() throws {
        let scratch = Scratch()
        let main = scratch.write("pipe.conf", "x")
        chown(main, 65534, 65534)
        #expect(throws: ConfigFileError(path: main, reason: "file owned by nobody, not root; refusing to read it")) {
            try ConfigFiles.load(mainFile: main, directory: nil)
        }
    }

    /// A drop-in that is a link to a link in another user's directory: the
    /// final file is root's, but that user picks which of root's files is
    /// read as configuration (a draft in /root, say).
    @Test(.enabled(if: isRoot, "needs root")) func aLinkThroughAnotherUsersDirectoryIsRefused() throws {
        let scratch = Scratch()
        let dir = scratch.mkdir("d")
        let draft = scratch.write("draft", "allow user * : *")
        let theirs = scratch.mkdir("theirs")
        symlink(draft, "\(theirs)/link")
        lchown("\(theirs)/link", 65534, 65534)
        chown(theirs, 65534, 65534)
        symlink("\(theirs)/link", "\(dir)/x.conf")
        #expect(
            throws: ConfigFileError(
                path: "\(dir)/x.conf",
                reason:
                    "\(theirs) is owned by uid 65534, who could choose what is read as configuration; refusing to read it"
            )
        ) {
            try ConfigFiles.load(mainFile: nil, directory: dir)
        }
    }

    @Test func backupAndHiddenNamesAreIgnored() {
        for name in [".x", "a~", "a.rpmsave", "a.rpmnew", "a.dpkg-old", "a.dpkg-new", "a.dpkg-dist"] {
            #expect(ConfigFiles.isIgnored(name), "\(name)")
        }
        for name in ["a.conf", "perf", "a.dpkg"] { #expect(!ConfigFiles.isIgnored(name), "\(name)") }
    }
}

@Suite("Accounts and executables", .timeLimit(.minutes(1)))
struct AccountsTests {
    @Test func rootAndNobodyAreFoundByNameAndID() {
        #expect(Accounts.user(named: "root") == UserAccount(name: "root", uid: 0, gid: 0, home: "/root"))
        #expect(Accounts.user(id: 0)?.name == "root")
        let nobody = Accounts.user(named: "nobody")
        #expect(nobody?.uid == 65534)
        #expect(Accounts.user(id: 65534) == nobody)
        #expect(Accounts.user(named: "no-such-user-here") == nil)
        #expect(Accounts.user(id: 4_000_000_000) == nil)
    }

    @Test func groupsAreFoundByNameAndID() {
        #expect(Accounts.groupName(id: 0) == "root")
        #expect(Accounts.groupExists(named: "root"))
        #expect(Accounts.groupID(named: "root") == 0)
        #expect(!Accounts.groupExists(named: "no-such-group-here"))
        #expect(Accounts.groupName(id: 4_000_000_000) == nil)
    }

    @Test func groupsOfAUserStartWithThePrimaryGroup() throws {
        let root = try #require(Accounts.user(named: "root"))
        let groups = Accounts.groups(of: root)
        #expect(groups.first?.gid == 0)
        #expect(groups.first?.name == "root")
        let nobody = try #require(Accounts.user(named: "nobody"))
        #expect(Accounts.groups(of: nobody).map(\.gid) == [nobody.gid])
    }

    @Test func programNamesResolveAgainstTheFixedPath() throws {
        let sh = try Executables.resolve("sh")
        #expect(sh.hasSuffix("/sh") && sh.hasPrefix("/"))
        #expect(try Executables.resolve("/bin/sh") == "/bin/sh")
        #expect(
            throws: SystemError(operation: "resolve no-such-program-here in \(LaunchPlanner.fixedPath)", errno: ENOENT)
        ) {
            try Executables.resolve("no-such-program-here")
        }
        #expect { try Executables.resolve("/etc/passwd") } throws: { ($0 as? SystemError)?.errno == EACCES }
        #expect { try Executables.resolve("/etc") } throws: { ($0 as? SystemError)?.errno == EACCES }
        #expect { try Executables.resolve("bin/sh") } throws: { ($0 as? SystemError)?.errno == EINVAL }
        #expect { try Executables.resolve("/nope/nope") } throws: { ($0 as? SystemError)?.errno == ENOENT }
    }

    @Test func fileHashIsTheSHA256OfItsContents() throws {
        let scratch = Scratch()
        let small = scratch.write("abc", "abc")
        #expect(
            SHA256Hasher.hex(try Executables.sha256(ofFile: small))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let large = "\(scratch.path)/large"
        _ = FileManager.default.createFile(atPath: large, contents: Data(bytes))
        let whole = SHA256Hasher()
        whole.update(bytes)
        #expect(try Executables.sha256(ofFile: large) == whole.finalize())
        #expect(throws: SystemError(operation: "open \(scratch.path)/none", errno: ENOENT)) {
            try Executables.sha256(ofFile: "\(scratch.path)/none")
        }
    }
}

@Suite("LocalSocket")
struct LocalSocketTests {
    @Test func aBoundUnixSocketIsOneAndAFileOrNothingIsNot() throws {
        let scratch = Scratch()
        let path = scratch.path + "/s.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        #expect(LocalSocket.exists(at: path))
        symlink(path, scratch.path + "/link")
        #expect(LocalSocket.exists(at: scratch.path + "/link"), "symlinks are followed, as connect(2) does")
        #expect(!LocalSocket.exists(at: scratch.write("plain", "x")))
        #expect(!LocalSocket.exists(at: scratch.path))
        #expect(!LocalSocket.exists(at: scratch.path + "/missing"))
    }
}
