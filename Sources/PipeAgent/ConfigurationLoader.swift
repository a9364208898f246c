import CPCP
import PipeCore
import PipeSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Reads, parses and checks the agent's configuration: the main file plus
/// every file of the drop-in directory (or one file given with -c).
///
/// Syntax errors always reject the configuration. Problems in the
/// environment (an unknown run-as user or group; under `-C`, a pin that no
/// longer matches) reject it under `-C` (`strict`), and are warnings for a running
/// agent, where the affected command then fails with a clear message when
/// someone asks for it — so one missing tool never disables the others. A
/// program that is not installed is a warning even under `-C`, as it is on
/// reload: a file written for tools not yet installed (PCP's own sample
/// names btrace) is still a correct configuration.
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

    /// Reads and parses everything. A syntax error refuses the whole
    /// configuration (a reload keeps the previous one), except at start-up
    /// (`skipBadFiles`): a file with errors is left out and the rest is
    /// used, so that one bad drop-in does not leave the agent with no
    /// commands. `strict` (-C): environment problems (an unknown user or
    /// group, a pin that does not match; not a missing program, a warning)
    /// refuse it too; otherwise they are warnings.
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
        // Hashing a pinned program reads all of it: only -C (strict) does it
        // here. A running agent is on its only thread, with pmcd waiting
        // (start-up, SIGHUP): its pins are checked by PinnedExecutables, off
        // that thread, and a mismatch refuses the run that asks for it.
        let environment = Self.environmentProblems(of: configuration, hashingPins: strict)
        let parseWarnings = configuration.warnings.map(\.description)
        if strict && !environment.errors.isEmpty {
            return .failure(
                LoadFailure(
                    errors: EnvironmentReport.texts(environment.errors),
                    warnings: parseWarnings + EnvironmentReport.texts(environment.warnings)))
        }
        return .success(
            Loaded(
                configuration: configuration, refusedFiles: refusedFiles,
                warnings: parseWarnings + EnvironmentReport.texts(environment.errors + environment.warnings)))
    }

    struct LoadFailure: Error {
        var errors: [String]
        /// What -C shows beside the errors (a program not installed).
        var warnings: [String] = []
    }

    /// One finding of `environmentProblems`, with the line it is about for sorting.
    struct Problem: Equatable {
        var location: SourceLocation
        var text: String
    }

    /// What `environmentProblems` found: `errors` refuse a configuration
    /// under -C; `warnings` (a program that is not installed) never do.
    /// Each finding appears once, however many rules one line makes.
    struct EnvironmentReport {
        var errors: [Problem] = []
        var warnings: [Problem] = []

        mutating func error(_ message: String, at location: SourceLocation) {
            Self.add(message, at: location, to: &errors)
        }

        mutating func warning(_ message: String, at location: SourceLocation) {
            Self.add(message, at: location, to: &warnings)
        }

        private static func add(_ message: String, at location: SourceLocation, to list: inout [Problem]) {
            let problem = Problem(location: location, text: "\(location): \(message)")
            if !list.contains(problem) { list.append(problem) }
        }

        /// The findings' texts in the order of the lines they are about.
        static func texts(_ problems: [Problem]) -> [String] {
            problems.sorted { $0.location < $1.location }.map(\.text)
        }
    }

    /// What parsing cannot know: whether the accounts, groups and programs
    /// exist, and (`hashingPins`, for -C only: it reads every pinned
    /// program whole) whether the programs match their `sha256` pins.
    static func environmentProblems(of configuration: Configuration, hashingPins: Bool) -> EnvironmentReport {
        var problems = EnvironmentReport()
        let cgroups = CgroupLayout.detect()
        for command in configuration.commands {
            let options = command.options
            let limits = RunResourceLimits(
                memoryBytes: options.memoryLimit?.bytes, tasks: options.taskLimit,
                cpuPercent: options.cpuPercent)
            if !limits.isEmpty, let problem = cgroups.unsupported(limits) {
                problems.error("instance \(command.name): \(problem)", at: command.location)
            }
            // One look-up per command: each reads the account databases,
            // and this runs at every start and reload.
            let account = SystemLaunchFacts.lookUpAccount(command.user)
            let privileged = account?.uid == 0 || options.capabilities?.isEmpty == false
            if account == nil {
                problems.error("instance \(command.name): user '\(command.user)' does not exist", at: command.location)
            }
            for (index, type) in options.parameterTypes.sorted(by: { $0.key < $1.key }) {
                guard case .path(let directory) = type else { continue }
                var info = stat()
                if stat(directory, &info) != 0 || info.st_mode & S_IFMT != S_IFDIR {
                    problems.warning(
                        "instance \(command.name): param \(index) = path under \(directory): \(directory) is not a "
                            + "directory here, so every request is refused until it is", at: command.location)
                }
            }
            if privileged {
                // A script or program behind a wrapper or an interpreter runs
                // with the same privileges as the program the check below
                // covers. Only a warning: a root command may well read a
                // user's file on purpose (`tail -f /home/bob/app.log`).
                for path in command.template.literalPaths {
                    var info = stat()
                    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
                        let problem = PinnedExecutables.trustProblem(of: path, pinned: false)
                    else { continue }
                    problems.warning(
                        "instance \(command.name) runs as root and names \(path): \(problem), if it is a program or "
                            + "a script it runs",
                        at: command.location)
                }
            }
            guard command.template.isDirect else { continue }
            let program = command.template.programName
            do {
                let path = try Executables.resolve(program)
                let pinned = command.options.sha256 != nil
                if privileged || pinned,
                    let problem = PinnedExecutables.trustProblem(of: path, pinned: !privileged)
                {
                    problems.error("instance \(command.name): \(problem)", at: command.location)
                }
                if hashingPins, let pin = command.options.sha256 {
                    let digest = try Executables.sha256(ofFile: path)
                    if digest != pin {
                        problems.error(
                            "instance \(command.name): "
                                + ExecutableRefusal.mismatch(path, actual: SHA256Hasher.hex(digest)),
                            at: command.location)
                    }
                }
            } catch  where error.errno == ENOENT {
                problems.warning(
                    "instance \(command.name): program '\(program)' \(SystemLaunchFacts.notInstalled(program)): "
                        + "a run of it fails with a clear error until it is installed", at: command.location)
            } catch {
                problems.error("instance \(command.name): program '\(program)': \(error)", at: command.location)
            }
        }
        for rule in configuration.rules {
            switch rule.subject {
            case .user(let name) where !isNumeric(name) && Accounts.user(named: name) == nil:
                problems.error("user '\(name)' does not exist", at: rule.location)
            case .group(let name) where !isNumeric(name) && !Accounts.groupExists(named: name):
                problems.error("group '\(name)' does not exist", at: rule.location)
            default:
                break
            }
        }
        if let group = configuration.limits.reservedGroup, !isNumeric(group), !Accounts.groupExists(named: group) {
            let location =
                configuration.limitLocations[.reservedGroup] ?? SourceLocation(file: "[limits]", line: 0)
            problems.error("reserved_group: group '\(group)' does not exist", at: location)
        }
        return problems
    }

    private static func isNumeric(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
