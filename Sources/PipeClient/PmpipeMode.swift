import PipeCore

/// Where `pmpipe --attach` starts printing.
public enum AttachStart: String, Sendable, Equatable, CaseIterable {
    /// Lines written from the moment pmpipe attaches.
    case now
    /// The oldest line the agent still keeps for the run.
    case start
}

/// What one pmpipe invocation asks for, once the options agree with each
/// other. pmpipe's argument parser collects `PmpipeArguments`; `mode()`
/// decides, so that the rules are one pure function, tested without a
/// command line.
public enum PmpipeMode: Sendable, Equatable {
    /// `-i NAME [-x PARAMS]`: a private run, stopped when pmpipe stops.
    case run(instance: String, parameters: String)
    /// `--explain -i NAME [-x PARAMS]`: what would run, without running it.
    case explain(instance: String, parameters: String)
    /// `--list`: the commands the caller may run.
    case list
    /// `--shared -i NAME [-x PARAMS]`: start a shared run and follow it.
    case shared(instance: String, parameters: String)
    /// `--attach RUN [--from now|start]`: follow an existing shared run.
    case attach(run: String, from: AttachStart)
    /// `--runs`: the shared runs the caller may read.
    case runs
    /// `--stop RUN`: stop a shared run.
    case stop(run: String)
    /// `-a ARCHIVE -i RUN [-S START] [-T END]`: replay a run from an archive.
    case replay(archive: String, instance: String, start: String?, finish: String?)
}

/// A usage mistake, as one sentence for `pmpipe: <sentence>` (exit 255).
public struct UsageError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// pmpipe's options as given, before they are checked against each other.
/// nil (or false) means "not on the command line".
public struct PmpipeArguments: Sendable, Equatable {
    public var host: String?
    public var instance: String?
    public var parameters: String?
    public var explain = false
    public var list = false
    public var shared = false
    public var runs = false
    public var attach: String?
    public var from: AttachStart?
    public var stop: String?
    public var archive: String?
    public var start: String?
    public var finish: String?

    public init() {}

    /// The mode these options select, or the first contradiction among them.
    public func mode() throws(UsageError) -> PmpipeMode {
        var chosen: [String] = []
        if list { chosen.append("--list") }
        if explain { chosen.append("--explain") }
        if shared { chosen.append("--shared") }
        if attach != nil { chosen.append("--attach") }
        if runs { chosen.append("--runs") }
        if stop != nil { chosen.append("--stop") }
        if archive != nil { chosen.append("-a") }
        guard chosen.count <= 1 else {
            throw UsageError(
                "\(chosen[0]) and \(chosen[1]) cannot be combined: choose one of "
                    + "--list, --explain, --shared, --attach, --runs, --stop and -a")
        }
        if from != nil && attach == nil { throw UsageError("--from goes with --attach RUN") }
        if (start != nil || finish != nil) && archive == nil {
            throw UsageError("-S and -T set the time window of -a ARCHIVE")
        }

        if list || runs {
            let flag = list ? "--list" : "--runs"
            if instance != nil || parameters != nil { throw UsageError("\(flag) takes no -i or -x") }
            return list ? .list : .runs
        }
        if let run = attach ?? stop {
            let flag = attach != nil ? "--attach" : "--stop"
            if instance != nil {
                throw UsageError("\(flag) takes a run name like bdev_trace.3, not -i (see pmpipe --runs)")
            }
            if parameters != nil {
                throw UsageError("\(flag) takes no -x: a shared run's parameters were given when it started")
            }
            let name = run.trimmingASCIIWhitespace()
            guard !name.isEmpty else {
                throw UsageError("\(flag) needs a run name like bdev_trace.3 (see pmpipe --runs)")
            }
            return attach != nil ? .attach(run: name, from: from ?? .now) : .stop(run: name)
        }
        if let archive {
            if host != nil { throw UsageError("-a reads an archive, not pmcd: it takes no -h") }
            if parameters != nil { throw UsageError("-a replays what a run wrote: it takes no -x") }
            guard !archive.isEmpty else { throw UsageError("-a needs the path of a pmlogger archive") }
            guard let instance, !instance.isEmpty else {
                throw UsageError("missing -i <run>, the run to replay from the archive (NAME.SEQ, see pmpipe --runs)")
            }
            return .replay(archive: archive, instance: instance, start: start, finish: finish)
        }
        guard let instance, !instance.isEmpty else {
            throw UsageError("missing -i <instance>, the configured command to run (see pmpipe --list)")
        }
        let parameters = parameters ?? ""
        if explain { return .explain(instance: instance, parameters: parameters) }
        if shared { return .shared(instance: instance, parameters: parameters) }
        return .run(instance: instance, parameters: parameters)
    }
}
