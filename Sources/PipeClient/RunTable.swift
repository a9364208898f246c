/// One shared run the caller may read, as `pmpipe --runs` shows it.
public struct RunEntry: Sendable, Equatable {
    /// NAME.SEQ, the instance of the runs instance domain.
    public var name: String
    public var owner: String
    /// running, stopping, stopped, exited or failed (`pipe.run.status`).
    public var status: String
    /// `pipe.run.exitstatus`, once the run has finished.
    public var exitStatus: Int32?
    public var lines: UInt64
    /// The parameters as the command received them, quoted (`pipe.run.params`).
    public var parameters: String
    /// The configured command line (`pipe.run.command`).
    public var command: String

    public init(
        name: String, owner: String, status: String, exitStatus: Int32? = nil, lines: UInt64,
        parameters: String = "", command: String
    ) {
        self.name = name
        self.owner = owner
        self.status = status
        self.exitStatus = exitStatus
        self.lines = lines
        self.parameters = parameters
        self.command = command
    }
}

/// `pmpipe --runs`' layout: a header line, then one line per run in
/// columns aligned with blanks; the command line comes last, as it may hold
/// blanks itself.
public enum RunTable {
    public static let header = ["RUN", "OWNER", "STATUS", "LINES", "PARAMS", "COMMAND"]

    public static func format(_ runs: [RunEntry]) -> String {
        var rows = [header]
        for run in runs {
            let status = run.exitStatus.map { "\(run.status) (\($0))" } ?? run.status
            rows.append([
                run.name, run.owner, status, "\(run.lines)",
                run.parameters.isEmpty ? "-" : run.parameters, run.command,
            ])
        }
        var widths = [Int](repeating: 0, count: header.count - 1)
        for row in rows {
            for column in widths.indices { widths[column] = max(widths[column], row[column].count) }
        }
        var text = ""
        for row in rows {
            var line = ""
            for column in widths.indices {
                let cell = row[column]
                // LINES is a number: aligned on the right.
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                line += column == 3 ? pad + cell : cell + pad
                line += "  "
            }
            text += line + row[header.count - 1] + "\n"
        }
        return text
    }
}
