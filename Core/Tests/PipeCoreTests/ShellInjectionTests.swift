import Foundation
import Testing

@testable import PipeCore

/// Hostile parameters: every shell metacharacter alone and combined, command
/// substitutions, globs, options, unicode and long strings.
let hostileParameters: [String] = {
    let metacharacters = [
        ";", "|", "&", "$", "`", "(", ")", "<", ">", "*", "?", "[", "]", "{", "}", "~", "#", "!",
        "\\", "'", "\"", "=", "%", " ", "\t",
    ]
    var corpus = metacharacters
    corpus.append(metacharacters.joined())
    corpus.append(metacharacters.reversed().joined(separator: "x"))
    corpus += [
        "$(id)", "`id`", "${IFS}", "'; rm -rf / #", "\"$(touch \(InjectionProbe.marker))\"",
        "$(touch \(InjectionProbe.marker))", "`touch \(InjectionProbe.marker)`", "*", "-rf", "--help", "-n", "-e",
        "\\n", "\\c", "a b  c", " leading", "trailing ", "", "$1", "$0", "$@", "\"$@\"", "${1}", "$((1+1))",
        "a[$(id)]", "x'y\"z", "'", "''", "\"\"", "%s%n", "-", "--", "héllo wörld", "日本語", "emoji 🐧",
        "e\u{301}", "'\u{301}", "\\", "\\\\", "\u{202E}rtl", String(repeating: "a", count: 1000),
        String(repeating: "$(id);", count: 170),
    ]
    return corpus
}()

enum InjectionProbe {
    static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-injection-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        // Files for an unquoted glob to find.
        _ = FileManager.default.createFile(atPath: url.appendingPathComponent("globbed-file").path, contents: nil)
        return url
    }()
    static let marker = directory.appendingPathComponent("injected").path

    /// Runs the invocation exactly as rendered and returns its stdout bytes.
    static func run(_ invocation: Invocation) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: invocation.program)
        process.arguments = Array(invocation.arguments.dropFirst())
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }
}

/// Shell templates in every quoting context, each with the output it must
/// print: `<p>` per argument, so that splitting would show.
let shellTemplates: [(template: String, count: Int, expected: @Sendable ([String]) -> String)] = [
    ("printf '<%s>\\n' $1", 1, { "<\($0[0])>\n" }),
    ("printf '<%s>\\n' \"$1\"", 1, { "<\($0[0])>\n" }),
    ("printf '<%s>\\n' 'a$1b'", 1, { "<a\($0[0])b>\n" }),
    ("printf '<%s>\\n' $0", 2, { $0.map { "<\($0)>\n" }.joined() }),
    ("printf '<%s>\\n' \"$0\"", 2, { "<\($0.joined(separator: " "))>\n" }),
    ("printf '<%s>\\n' '$0'", 2, { "<\($0.joined(separator: " "))>\n" }),
    ("printf '<%s>\\n' \"x$1y\" | cat", 1, { "<x\($0[0])y>\n" }),
    ("printf '<%s>\\n' $1$2", 2, { "<\($0[0])\($0[1])>\n" }),
    ("printf '<%s>\\n' \"$(printf '%s' $1)\"", 1, { "<\($0[0])>\n" }),
    ("printf '<%s>\\n' ${UNSET:-$1}", 1, { "<\($0[0])>\n" }),
]

@Test(.timeLimit(.minutes(2)), arguments: shellTemplates.indices)
func hostileParametersReachTheCommandAsExactBytes(_ templateIndex: Int) throws {
    let (text, count, expected) = shellTemplates[templateIndex]
    let template = try CommandTemplate.parse(text)
    guard case .shell = template.form else {
        Issue.record("\(text) should run through the shell")
        return
    }
    for (index, hostile) in hostileParameters.enumerated() {
        let partner = hostileParameters[(index + 7) % hostileParameters.count]
        let parameters = Array([hostile, partner].prefix(count))
        let invocation = template.render(instance: "probe", parameters: parameters)
        let output = try InjectionProbe.run(invocation)
        let want = Array(expected(parameters).utf8)
        #expect(output == want, "template \(text) with \(parameters.map { $0.debugDescription })")
    }
    #expect(!FileManager.default.fileExists(atPath: InjectionProbe.marker), "a parameter ran a command")
}

@Test func hostileParametersStayWholeArgumentsInDirectMode() throws {
    let template = try CommandTemplate.parse("tool -x $1 --opt=$2 $0")
    for (index, hostile) in hostileParameters.enumerated() {
        let partner = hostileParameters[(index + 3) % hostileParameters.count]
        let invocation = template.render(instance: "probe", parameters: [hostile, partner])
        #expect(
            invocation
                == Invocation(
                    program: "tool", arguments: ["tool", "-x", hostile, "--opt=" + partner, hostile, partner],
                    usesShell: false))
    }
}

/// The planner keeps hostile text away from shell command lines entirely:
/// a parameter without a type is letters and digits only.
@Test func thePlannerRefusesHostileParametersForAShellCommand() throws {
    let planner = LaunchPlanner(
        configuration: try configuration(
            "probe root printf '%s' $1\n[access]\nallow user * : probe\n"))
    for hostile in hostileParameters where !hostile.isEmpty && !hostile.unicodeScalars.allSatisfy(ASCII.isLetterOrDigit)
    {
        let quoted = "'" + hostile.replacingOccurrences(of: "'", with: "'\\''") + "'"
        guard
            case .failure(let refusal) = planner.plan(
                instance: "probe", parameterBytes: Array(quoted.utf8), client: bobClient, context: LaunchContext(),
                facts: TableFacts())
        else {
            Issue.record("\(hostile.debugDescription) was accepted")
            continue
        }
        #expect(refusal.message.hasPrefix("bad parameters:"), "\(hostile.debugDescription): \(refusal.message)")
    }
}
