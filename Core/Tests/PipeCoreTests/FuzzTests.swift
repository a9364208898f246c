import Foundation
import Testing

@testable import PipeCore

/// SplitMix64: small, fast, and the same sequence on every machine, so a
/// failing fuzz case or random chunking names a seed that reproduces it.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

enum Fuzz {
    static let seed: UInt64 =
        ProcessInfo.processInfo.environment["PIPE_FUZZ_SEED"].flatMap { UInt64($0) }
        ?? 0x5049_5045_2D46_555A
    static let iterations = 6000

    static let interesting: [[UInt8]] = [
        "'", "\"", "\\", "$", "$1", "${2}", "$0", "$(", ")", "`", "[", "]", "[access]", "[limits]", "[instance a]",
        "{", "}", "\n", "\r\n", "\t", " ", ",", ":", ";", "|", "&", "#", "=", "*", "all", "param 1 = ", "((", "))",
        "$((", "\u{0}", "\u{7F}", "\u{85}", "é", "\u{301}", "🐧", "-", "..", "integer ", "pattern ", "oneof ",
    ].map { Array($0.utf8) }

    static func corpus(_ folder: String) -> [[UInt8]] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Corpus/\(folder)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().compactMap { try? Array(Data(contentsOf: directory.appendingPathComponent($0))) }
    }

    /// Byte flips, inserts of interesting fragments, truncations and splices.
    static func mutate(_ input: [UInt8], corpus: [[UInt8]], random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.below(4)) {
            switch random.below(5) {
            case 0 where !bytes.isEmpty:
                bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8))
            case 1:
                bytes.insert(
                    contentsOf: interesting[random.below(interesting.count)], at: random.below(bytes.count + 1))
            case 2 where !bytes.isEmpty:
                bytes.removeSubrange(random.below(bytes.count)...)
            case 3:
                let other = corpus[random.below(corpus.count)]
                let cut = random.below(bytes.count + 1)
                bytes = Array(bytes[..<cut]) + other[random.below(other.count + 1)...]
            default:
                if !bytes.isEmpty { bytes.remove(at: random.below(bytes.count)) }
            }
        }
        return bytes
    }
}

@Test(.timeLimit(.minutes(1)))
func mutatedConfigurationsParseOrFailWithLocatedErrors() throws {
    let corpus = Fuzz.corpus("config")
    try #require(!corpus.isEmpty)
    var random = SplitMix64(state: Fuzz.seed)
    for iteration in 0..<Fuzz.iterations {
        let bytes = Fuzz.mutate(corpus[random.below(corpus.count)], corpus: corpus, random: &random)
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let config = try Configuration.parse([ConfigSource(name: "fuzz.conf", text: text)], engine: testEngine)
            let planner = LaunchPlanner(configuration: config)
            for command in config.commands {
                let parameters = Array(repeating: "p", count: command.template.highestParameter).joined(separator: " ")
                if case .failure(let refusal) = planner.plan(
                    instance: command.name, parameterBytes: Array(parameters.utf8), client: rootClient,
                    context: LaunchContext(), facts: TableFacts())
                {
                    #expect(!refusal.message.isEmpty)
                }
            }
        } catch {
            #expect(!error.errors.isEmpty, "seed \(Fuzz.seed) iteration \(iteration)")
            for problem in error.errors {
                #expect(
                    problem.location != nil && !problem.message.isEmpty,
                    "seed \(Fuzz.seed) iteration \(iteration): \(problem)")
            }
        }
    }
}

@Test(.timeLimit(.minutes(1)))
func mutatedCommandLinesParseOrFailWithAMessage() {
    let corpus = Fuzz.corpus("config").flatMap { file in
        String(decoding: file, as: UTF8.self).split(separator: "\n").map { Array($0.utf8) }
    }
    var random = SplitMix64(state: Fuzz.seed ^ 1)
    for iteration in 0..<Fuzz.iterations * 2 {
        let text = String(
            decoding: Fuzz.mutate(corpus[random.below(corpus.count)], corpus: corpus, random: &random), as: UTF8.self)
        do {
            let template = try CommandTemplate.parse(text)
            let parameters = (0..<template.highestParameter).map { "PARAMETER\($0)VALUE" }
            let invocation = template.render(instance: "fuzz", parameters: parameters)
            #expect(!invocation.arguments.isEmpty)
            #expect(template.uses.count >= (template.highestParameter > 0 ? 1 : 0))
            if case .shell(let script) = template.form {
                // The values travel as positional arguments, never inside the script.
                #expect(
                    !parameters.contains { script.contains($0) },
                    "seed \(Fuzz.seed) iteration \(iteration): \(text.debugDescription)")
            }
        } catch {
            #expect(!error.description.isEmpty, "seed \(Fuzz.seed) iteration \(iteration)")
        }
    }
}

@Test(.timeLimit(.minutes(1)))
func mutatedParametersSplitOrFailWithAMessage() throws {
    let corpus = Fuzz.corpus("params")
    try #require(!corpus.isEmpty)
    let types = (1...32).map { "param \($0) = any" }.joined(separator: "\n")
    let planner = LaunchPlanner(
        configuration: try configuration(
            "fuzz root tool $1 $0\n[instance fuzz]\nallow_dash = yes\n\(types)\n[access]\nallow user * : fuzz\n"))
    var random = SplitMix64(state: Fuzz.seed ^ 2)
    for iteration in 0..<Fuzz.iterations * 2 {
        let bytes = Fuzz.mutate(corpus[random.below(corpus.count)], corpus: corpus, random: &random)
        do {
            let text = try ParameterParser.decode(bytes)
            let parameters = try ParameterParser.split(text, limits: GlobalLimits())
            switch planner.plan(
                instance: "fuzz", parameterBytes: bytes, client: bobClient, context: LaunchContext(),
                facts: TableFacts())
            {
            case .success(let plan):
                #expect(
                    plan.invocation.arguments.count == 2 + parameters.count, "seed \(Fuzz.seed) iteration \(iteration)")
                #expect(Array(plan.invocation.arguments.dropFirst(2)) == parameters)
            case .failure(let refusal):
                #expect(!refusal.message.isEmpty, "seed \(Fuzz.seed) iteration \(iteration)")
            }
        } catch {
            #expect(!error.description.isEmpty, "seed \(Fuzz.seed) iteration \(iteration)")
        }
    }
}
