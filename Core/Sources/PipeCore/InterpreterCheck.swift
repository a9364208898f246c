// Warnings (not errors) about parameters that are whole arguments of
// programs that may run them as code or as a command: `awk $1 FILE`,
// `env $1`, `xargs $1`. The placement rule lets any type be a whole
// argument of a program run without a shell; whether that program reads
// the argument as data or as a program is the program's business, which a
// sysadmin who chose a wide type should see spelled out.

enum InterpreterCheck {
    /// Programs that read an argument as a program (awk, sed, interpreters)
    /// or run an argument as a command (env, xargs, sudo, timeout, ...):
    /// the shells and the tables of `CommandWords`, plus shells and `find`,
    /// which that check reads without a table.
    static let programs: Set<String> = ShellWords.shells
        .union(CommandWords.wrappers.keys).union(CommandWords.interpreters.keys)
        .union(["csh", "tcsh", "fish", "find"])

    /// One warning per parameter of a non-plain-word type that is a whole
    /// argument of such a program.
    static func warnings(for command: CommandSpec) -> [String] {
        guard command.template.isDirect else { return [] }
        let program = command.template.programName
        let name = CommandWords.baseName(program)
        guard programs.contains(name) else { return [] }
        var numbers: [Int] = []
        for use in command.template.uses where use.placement == .wholeArgument {
            let candidates = use.number == 0 ? command.options.parameterTypes.keys.sorted() : [use.number]
            for number in candidates
            where !command.options.parameterType(number).isPlainWord
                && !numbers.contains(number)
            {
                numbers.append(number)
            }
        }
        return numbers.map { number in
            "instance \(command.name): parameter \(number) ('\(command.options.parameterType(number).text)') is an "
                + "argument of '\(name)', which can run its arguments as code or as a command: make sure the type "
                + "cannot carry a program"
        }
    }
}
