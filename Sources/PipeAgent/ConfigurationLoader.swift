import CPCP
import PipeCore
import PipeSystem

/// Reads, parses and checks the agent's configuration: the main file plus
/// every file of the drop-in directory (or one file given with -c).
///
/// Syntax errors always reject the configuration. Problems in the
/// environment (an unknown run-as user, a missing program, a pin that no
/// longer matches) reject it under `-C` (`strict`), and are warnings for a
/// running agent, where the affected command then fails with a clear message
/// when someone asks for it — so one missing tool never disables the others.
struct ConfigurationLoader {
    var mainFile: String?
    var directory: String?

    /// The default places ($PCP_PMDAS_DIR/pipe/pipe.conf and
    /// $PCP_SYSCONF_DIR/pipe.conf.d), or exactly `explicitFile` when given.
    init(explicitFile: String?) {
        if let explicitFile {
            mainFile = explicitFile
            directory = nil
        } else {
            mainFile = String(cString: pmGetConfig("PCP_PMDAS_DIR")) + "/pipe/pipe.conf"
            directory = String(cString: pmGetConfig("PCP_SYSCONF_DIR")) + "/pipe.conf.d"
        }
    }

    struct Loaded {
        var configuration: Configuration
        /// At start-up: the files left out and why, one line each.
        var refusedFiles: [String] = []
        var warnings: [String]
    }

    /// The pattern engine every configuration is compiled with.
    static let engine = RE2PatternEngine()

    /// Reads and parses everything. `strict` (-C, and reloads): any error
    /// refuses the whole configuration; environment problems (an unknown
    /// user, a missing program) too under -C. At start-up (`strict: false`,
    /// `skipBadFiles`): a file with errors is left out and the rest is used,
    /// so that one bad drop-in does not leave the agent with no commands.
    func load(strict: Bool, skipBadFiles: Bool = false) -> Result<Loaded, LoadFailure> {
        let files: [ConfigSource]
        do {
            files = try ConfigFiles.load(mainFile: mainFile, directory: directory)
                .map { ConfigSource(name: $0.name, text: $0.text) }
        } catch {
            return .failure(LoadFailure(errors: ["\(error)"]))
        }
        let configuration: Configuration
        var refusedFiles: [String] = []
        if skipBadFiles {
            let (parsed, refused) = Configuration.parseSkippingBadFiles(files, engine: Self.engine)
            configuration = parsed
            for (file, errors) in refused {
                refusedFiles.append("\(file) is refused, none of its commands can run until it is fixed:")
                refusedFiles += errors.map { "  \($0)" }
            }
        } else {
            do {
                configuration = try Configuration.parse(files, engine: Self.engine)
            } catch {
                return .failure(LoadFailure(errors: error.errors.map(\.description)))
            }
        }
        let problems = Self.environmentProblems(of: configuration)
        if strict && !problems.isEmpty {
            return .failure(LoadFailure(errors: problems))
        }
        return .success(
            Loaded(
                configuration: configuration, refusedFiles: refusedFiles,
                warnings: configuration.warnings.map(\.description) + problems))
    }

    struct LoadFailure: Error {
        var errors: [String]
    }

    /// What parsing cannot know: whether the accounts, groups and programs exist.
    static func environmentProblems(of configuration: Configuration) -> [String] {
        var problems: [String] = []
        let cgroups = CgroupLayout.detect()
        for command in configuration.commands {
            let options = command.options
            let limits = RunResourceLimits(
                memoryBytes: options.memoryLimit?.bytes, tasks: options.taskLimit,
                cpuPercent: options.cpuPercent)
            if !limits.isEmpty, let problem = cgroups.unsupported(limits) {
                problems.append("\(command.location): instance \(command.name): \(problem)")
            }
            if SystemLaunchFacts.lookUpAccount(command.user) == nil {
                problems.append("\(command.location): instance \(command.name): user '\(command.user)' does not exist")
            }
            guard command.template.isDirect else { continue }
            let program = command.template.programName
            do {
                let path = try Executables.resolve(program)
                let account = SystemLaunchFacts.lookUpAccount(command.user)
                if account?.uid == 0 || command.options.capabilities?.isEmpty == false,
                    let problem = PinnedExecutables.trustProblem(of: path)
                {
                    problems.append("\(command.location): instance \(command.name): \(problem)")
                }
                if let pin = command.options.sha256 {
                    let digest = try Executables.sha256(ofFile: path)
                    if digest != pin {
                        problems.append(
                            "\(command.location): instance \(command.name): \(path) does not match its pinned sha256 (it is \(SHA256Hasher.hex(digest)))"
                        )
                    }
                }
            } catch {
                problems.append("\(command.location): instance \(command.name): program '\(program)': \(error)")
            }
        }
        for rule in configuration.rules {
            switch rule.subject {
            case .user(let name) where !isNumeric(name) && Accounts.user(named: name) == nil:
                problems.append("\(rule.location): user '\(name)' does not exist")
            case .group(let name) where !isNumeric(name) && !Accounts.groupExists(named: name):
                problems.append("\(rule.location): group '\(name)' does not exist")
            default:
                break
            }
        }
        return problems
    }

    private static func isNumeric(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
