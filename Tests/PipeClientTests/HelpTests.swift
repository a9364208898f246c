import Foundation
import Testing

/// The real pmpipe binary (built next to the test bundle), for what only the
/// whole command line shows: the help text and usage errors. None of these
/// reach pmcd.
@Suite struct HelpTests {
    /// pmpipe in the build directory, beside this test bundle.
    static let pmpipe: String = {
        let bundle =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("pmpipe").path
    }()

    static var built: Bool { FileManager.default.isExecutableFile(atPath: pmpipe) }

    /// Runs pmpipe with `arguments` at a fixed terminal width.
    private func pmpipe(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.pmpipe)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["COLUMNS"] = "80"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self),
            String(decoding: errData, as: UTF8.self)
        )
    }

    @Test(.enabled(if: built, "needs the pmpipe binary (swift build)"))
    func theHelpIsTheGoldenText() throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/pmpipe-help.txt")
        let expected = try String(contentsOf: golden, encoding: .utf8)
        for flag in ["--help", "-?"] {
            let outcome = try pmpipe([flag])
            #expect(outcome.status == 0)
            #expect(
                outcome.out == expected,
                "update Golden/pmpipe-help.txt if the change is meant: COLUMNS=80 pmpipe --help")
        }
    }

    @Test(.enabled(if: built, "needs the pmpipe binary (swift build)"))
    func theHelpShowsAnExampleOfEveryMode() throws {
        let help = try pmpipe(["--help"]).out
        for example in [
            "pmpipe --list", "pmpipe -i bdev_trace -x '5 sda'", "pmpipe --explain -i", "pmpipe --shared -i",
            "pmpipe --runs", "pmpipe --attach bdev_trace.3", "--from start", "pmpipe --stop bdev_trace.3",
            "pmpipe -a ", "-S @10:00 -T @10:05", "pmpipe -h 'pcp://db1?username=bob'",
        ] {
            #expect(help.contains(example), "\(example)")
        }
        for status in ["254", "255", "129, 130, 143", "141"] { #expect(help.contains("\n  \(status)"), "\(status)") }
    }

    @Test(.enabled(if: built, "needs the pmpipe binary (swift build)"))
    func aUsageErrorIsOneSentenceAndStatus255() throws {
        let cases: [([String], String)] = [
            (
                ["--list", "--runs"],
                "pmpipe: --list and --runs cannot be combined: choose one of --list, --explain, "
                    + "--shared, --attach, --runs, --stop and -a (see pmpipe --help)\n"
            ),
            (
                ["--attach", "x.1", "-i", "x"],
                "pmpipe: --attach takes a run name like bdev_trace.3, not -i (see pmpipe --runs)\n"
            ),
            (["-i", "x", "-S", "@10:00"], "pmpipe: -S and -T set the time window of -a ARCHIVE (see pmpipe --help)\n"),
            (
                ["-a", "/nonexistent", "-i", "x.1", "-h", "unix:"],
                "pmpipe: -a reads an archive, not pmcd: it takes no -h (see pmpipe --help)\n"
            ),
            (["--attach", "x.1", "--from", "yesterday"], ""),
            ([], "pmpipe: missing -i <instance>, the configured command to run (see pmpipe --list)\n"),
            // An unknown option is named first, not hidden behind what it left missing.
            (["--bogus"], "pmpipe: Unknown option '--bogus' (see pmpipe --help)\n"),
            (["--bogus", "--list", "--runs"], "pmpipe: Unknown option '--bogus' (see pmpipe --help)\n"),
        ]
        for (arguments, expected) in cases {
            let outcome = try pmpipe(arguments)
            #expect(outcome.status == 255, "\(arguments)")
            #expect(outcome.out.isEmpty, "\(arguments)")
            if expected.isEmpty {
                #expect(
                    outcome.err.hasPrefix("pmpipe: ") && outcome.err.contains("yesterday")
                        && outcome.err.split(separator: "\n").count == 1, "\(outcome.err)")
            } else {
                #expect(outcome.err == expected, "\(arguments)")
            }
        }
    }

    @Test(.enabled(if: built, "needs the pmpipe binary (swift build)"))
    func aMissingArchiveIsOneSentence() throws {
        let outcome = try pmpipe(["-a", "/nonexistent/archive", "-i", "x.1"])
        #expect(outcome.status == 255)
        #expect(outcome.err.hasPrefix("pmpipe: cannot open the archive /nonexistent/archive: "), "\(outcome.err)")
        #expect(outcome.err.split(separator: "\n").count == 1, "\(outcome.err)")
    }
}
