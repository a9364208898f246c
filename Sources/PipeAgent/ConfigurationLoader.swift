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
        var warnings: [String]
    }

    func load(strict: Bool) -> Result<Loaded, LoadFailure> {
        let files: [ConfigSource]
        do {
            files = try ConfigFiles.load(mainFile: mainFile, directory: directory)
                .map { ConfigSource(name: $0.name, text: $0.text) }
        } catch {
            return .failure(LoadFailure(errors: ["\(error)"]))
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.parse(files)
        } catch {
            return .failure(LoadFailure(errors: error.errors.map(\.description)))
        }
        let problems = Self.environmentProblems(of: configuration)
        if strict && !problems.isEmpty {
            return .failure(LoadFailure(errors: problems))
        }
        return .success(Loaded(configuration: configuration,
                               warnings: configuration.warnings.map(\.description) + problems))
    }

    struct LoadFailure: Error {
        var errors: [String]
    }

    /// What parsing cannot know: whether the accounts, groups and programs exist.
    static func environmentProblems(of configuration: Configuration) -> [String] {
        var problems: [String] = []
        for command in configuration.commands {
            if runAsAccount(command.user) == nil {
                problems.append("\(command.location): instance \(command.name): user '\(command.user)' does not exist")
            }
            guard case .direct = command.template else { continue }
            let program = command.prepareProgramName()
            do {
                let path = try Executables.resolve(program)
                if let pin = command.options.sha256 {
                    let digest = try Executables.sha256(ofFile: path)
                    if digest != pin {
                        problems.append("\(command.location): instance \(command.name): \(path) does not match its pinned sha256 (it is \(SHA256.hex(digest)))")
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

    /// The account a command runs as: a user name, or a numeric uid.
    static func runAsAccount(_ user: String) -> UserAccount? {
        if let account = Accounts.user(named: user) { return account }
        if isNumeric(user), let uid = UInt32(user) { return Accounts.user(id: uid) }
        return nil
    }

    private static func isNumeric(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

extension CommandSpec {
    /// argv[0] of a direct command as configured (a bare name or a path).
    func prepareProgramName() -> String {
        guard case .direct(let words) = template, let first = words.first else { return "/bin/sh" }
        // The parser guarantees the program word holds no placeholder.
        return first.pieces.map { piece -> String in
            if case .literal(let text) = piece { return text }
            return ""
        }.joined()
    }
}
