/// What a request would do, in words, for `pmpipe --explain`: the argument
/// vector (or shell script and its positional parameters), the account, the
/// access decision and each parameter's check, as far as the decision got.
///
/// A client the access rules refuse learns only that, and why: no command
/// line, account or program, as pipe.commands and pipe.paramtypes show it
/// nothing of a command it may not run.
public struct LaunchExplanation: Sendable {
    public let assessment: LaunchAssessment

    public init(_ assessment: LaunchAssessment) { self.assessment = assessment }

    /// Lines of `key: value`, ending with the verdict.
    public var text: String {
        var lines: [String] = ["command: \(assessment.instance)"]
        if let spec = assessment.spec, assessment.decision?.allowed == true {
            lines.append("command line: \(spec.commandLine) (\(spec.location))")
            lines.append("runs as: \(spec.user)" + (assessment.account.map { " (uid \($0.uid), gid \($0.gid))" } ?? ""))
            lines.append(
                "through a shell: \(spec.template.isDirect ? "no" : "yes, /bin/sh -c with the parameters as positional arguments")"
            )
        }
        if let decision = assessment.decision {
            lines.append("access: \(decision.reason)")
        }
        for check in assessment.parameters {
            let verdict: String
            switch check.verdict {
            case .accepted(let value) where value == check.value: verdict = "accepted"
            case .accepted(let value): verdict = "accepted as \(Self.quoted(value))"
            case .refused(let reason): verdict = "refused: it \(reason)"
            }
            let use = check.used ? "" : " (not used by the command)"
            lines.append("parameter \(check.number) \(Self.quoted(check.value)): \(check.type.text): \(verdict)\(use)")
        }
        if let invocation = assessment.invocation {
            lines.append("program: \(invocation.program)")
            lines.append("argv: " + invocation.arguments.map(Self.quoted).joined(separator: " "))
        }
        switch assessment.result {
        case .success: lines.append("verdict: would run")
        case .failure(let refusal): lines.append("verdict: refused: \(refusal.message)")
        }
        return lines.joined(separator: "\n")
    }

    /// A value in single quotes, with control characters escaped.
    public static func quoted(_ value: String) -> String {
        var out = "'"
        for scalar in value.unicodeScalars {
            switch scalar {
            case "'": out += "'\\''"
            case _ where scalar.properties.generalCategory == .control:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "'"
    }
}
