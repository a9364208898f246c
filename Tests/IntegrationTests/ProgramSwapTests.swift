import Foundation
import Testing

extension PipeIntegration {
    /// What the agent opens and trusts as a program, attacked by a local user
    /// who controls a directory on the program's way.
    @Suite(.serialized)
    struct ProgramSwapTests {
        init() throws { try TestSetup.prepare() }

        /// A directory of root's (0755) holding `u`, a directory pipetest_a owns.
        private static func makeDirectories() throws -> (root: String, user: String) {
            let root = "/var/lib/pmdapipe-swap-\(getpid())"
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(
                atPath: root + "/u", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            chmod(root, 0o755)
            try run("chown", ["pipetest_a:pipetest_a", root + "/u"])
            return (root, root + "/u")
        }

        /// pipetest_a owns the program of a command that runs as pipetest_a
        /// (nothing wrong with that) and swaps a FIFO in and out of its path
        /// as fast as it can while requests come: the agent must never open
        /// the FIFO (its only thread would wait for a writer; pmcd drops an
        /// agent that does not answer in 5 s).
        @Test(.timeLimit(.minutes(3)))
        func aFIFOSwappedInForAProgramCannotStallTheAgent() throws {
            let (root, user) = try Self.makeDirectories()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let script = """
                import os
                d = "\(user)"
                with open(d + "/prog.reg", "w") as f:
                    f.write("#!/bin/sh\\necho ran\\n")
                os.chmod(d + "/prog.reg", 0o755)
                os.mkfifo(d + "/prog.fifo")
                os.link(d + "/prog.reg", d + "/prog")
                open(d + "/ready", "w").close()
                while True:
                    for source in ("/prog.fifo", "/prog.reg"):
                        try:
                            os.unlink(d + "/next")
                        except FileNotFoundError:
                            pass
                        os.link(d + source, d + "/next")
                        os.replace(d + "/next", d + "/prog")
                """
            let swapper = try launch("/usr/bin/python3", ["-c", script], user: "pipetest_a")
            defer {
                // SIGKILL: the test runner's blocked signals are inherited,
                // so the swapper may not die of SIGTERM.
                kill(swapper.processIdentifier, SIGKILL)
                swapper.waitUntilExit()
            }
            #expect(eventually { FileManager.default.fileExists(atPath: user + "/ready") })

            let good = try TestSetup.testConfiguration()
            defer { try? TestSetup.installConfiguration(good) }
            try TestSetup.installConfiguration(
                good.replacingOccurrences(
                    of: "t_echo      nobody  echo $0",
                    with: "t_echo      nobody  echo $0\nh_swap      pipetest_a  \(user)/prog")
                    + "\nallow user root : h_swap\n")
            let agent = try Agent.pid()
            var ran = 0
            for _ in 1...100 {
                let outcome = try run("pmpipe", ["-i", "h_swap"], timeout: 15)
                #expect(!outcome.timedOut, "a request hung: the agent is stuck on the FIFO")
                if outcome.timedOut { break }
                if outcome.status == 0 {
                    #expect(outcome.out == "ran\n", "\(outcome)")
                    ran += 1
                } else {
                    #expect(outcome.status == 255, "\(outcome)")
                    #expect(outcome.err.contains("not a regular file"), "\(outcome)")
                    if !outcome.err.contains("not a regular file") { break }
                }
            }
            #expect(ran > 0, "the program never ran")
            #expect(try Agent.pid() == agent, "pmcd dropped the agent")
        }

        /// Root's command names a program through a link root made, into a
        /// directory pipetest_a owns, where pipetest_a put a link to one of
        /// root's programs: every file is root's, but pipetest_a chooses what
        /// root runs. -C names the directory.
        @Test func aProgramReachedThroughAUsersDirectoryIsRefusedForRoot() throws {
            let (root, user) = try Self.makeDirectories()
            defer { try? FileManager.default.removeItem(atPath: root) }
            #expect(symlink("/bin/echo", user + "/tool") == 0)
            #expect(lchown(user + "/tool", 0, 0) == 0)
            #expect(symlink(user + "/tool", root + "/tool") == 0)
            let config = try ConfigFile("h_link root \(root)/tool hello\n[access]\nallow user root : *")
            defer { config.remove() }
            let (checked, uid) = try Self.refusedCheck(config)
            #expect(
                checked.err.contains(
                    "\(config.path):1: instance h_link: \(user) is owned by uid \(uid), who could replace what runs as root"
                ),
                "\(checked)")
        }

        /// A root command whose program is a wrapper or an interpreter (the
        /// program itself is root's) with a script pipetest_a may replace:
        /// -C warns for each such file, as the attacker's swap would run as
        /// root (found by a hostile review: `timeout 5 DIR/prog` ran
        /// pipetest_a's code as root, and -C said nothing).
        @Test func aScriptARootCommandNamesInAUsersDirectoryIsWarnedAbout() throws {
            let (root, user) = try Self.makeDirectories()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let script = user + "/prog"
            try "#!/bin/sh\necho hello\n".write(toFile: script, atomically: false, encoding: .utf8)
            chmod(script, 0o755)
            let config = try ConfigFile(
                "h_wrap root timeout 5 \(script)\nh_sh root sh -c 'exec \(script)'\n[access]\nallow user root : *")
            defer { config.remove() }
            let checked = try run("\(Integration.pmdasDir)/pipe/pmdapipe", ["-C", "-c", config.path])
            let uid = try Self.pipetestAUID()
            for (line, name) in [(1, "h_wrap"), (2, "h_sh")] {
                #expect(
                    checked.err.contains(
                        "warning: \(config.path):\(line): instance \(name) runs as root and names \(script): \(user) "
                            + "is owned by uid \(uid), who could replace what runs as root, if it is a program or a "
                            + "script it runs"),
                    "\(checked)")
            }
        }

        /// `pmdapipe -C` on `config`, expected to refuse it (status 1), and
        /// pipetest_a's uid, which the refusals name.
        private static func refusedCheck(_ config: ConfigFile) throws -> (Outcome, String) {
            let checked = try run("\(Integration.pmdasDir)/pipe/pmdapipe", ["-C", "-c", config.path])
            #expect(checked.status == 1, "\(checked)")
            return (checked, try pipetestAUID())
        }

        /// pipetest_a's uid, as -C names the owner of a file it refuses.
        private static func pipetestAUID() throws -> String {
            try run("id", ["-u", "pipetest_a"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// A pin on a program its user may rewrite checks bytes that can
        /// change before they run (in place, even keeping the file's times,
        /// through a shared mapping): -C refuses it and says why.
        @Test func aPinOnAProgramAUserMayChangeIsRefused() throws {
            let (root, user) = try Self.makeDirectories()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let program = user + "/prog"
            try "#!/bin/sh\necho pinned\n".write(toFile: program, atomically: false, encoding: .utf8)
            chmod(program, 0o755)
            try run("chown", ["pipetest_a:pipetest_a", program])
            let config = try ConfigFile(
                "h_pin pipetest_a \(program)\n[instance h_pin]\nsha256 = \(try TestSetup.sha256(of: program))\n"
                    + "[access]\nallow user root : *")
            defer { config.remove() }
            let (checked, uid) = try Self.refusedCheck(config)
            #expect(
                checked.err.contains(
                    "\(config.path):1: instance h_pin: \(program) is owned by uid \(uid), who could change it after "
                        + "its sha256 is checked, so the pin would prove nothing"),
                "\(checked)")
        }
    }
}
