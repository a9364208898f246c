/// Turns what a client stored into the instance's `params` metric into a
/// list of parameters.
///
/// PCP's pipe agent split on blanks and commas and allowed only letters and
/// digits. This parser keeps that splitting (`5 sda`, `5,sda` and `5, sda`
/// all give `["5", "sda"]`) and adds quoting so that parameters may hold
/// spaces, commas and punctuation: `'single'` quotes are literal, `"double"`
/// quotes allow `\"` and `\\`, and a backslash outside quotes escapes the next
/// character. Control characters are refused everywhere.
public enum ParameterParser {
    /// Decodes the raw bytes a client stored (may end with one NUL: strip it) as UTF-8 text.
    public static func decode(_ bytes: [UInt8]) throws(ParameterError) -> String {
        var bytes = bytes[...]
        if bytes.last == 0 { bytes = bytes.dropLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        return text
    }

    /// Splits on blanks and commas outside quotes. 'single' quotes are literal; "double" quotes allow \" and \\ ;
    /// a backslash outside quotes escapes the next character. '' or "" give an empty parameter.
    /// Consecutive separators collapse (PCP-compatible: "5 sda", "5,sda", "5, sda" all give ["5","sda"]).
    public static func split(_ text: String, limits: GlobalLimits) throws(ParameterError) -> [String] {
        enum State { case plain, single, double }
        var parameters: [String] = []
        var current = String.UnicodeScalarView()
        var started = false
        var state = State.plain
        let scalars = Array(text.unicodeScalars)

        func refuseControl(_ scalar: Unicode.Scalar) throws(ParameterError) {
            if isControl(scalar) {
                throw .controlCharacter(parameter: parameters.count + 1, scalar: scalar.value)
            }
        }
        func finish() throws(ParameterError) {
            let parameter = String(current)
            parameters.append(parameter)
            if parameter.utf8.count > limits.maxParameterLength {
                throw .tooLong(parameter: parameters.count, max: limits.maxParameterLength)
            }
            current = String.UnicodeScalarView()
            started = false
        }

        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch state {
            case .plain:
                switch scalar {
                case " ", "\t", ",":
                    if started { try finish() }
                case "'":
                    started = true
                    state = .single
                case "\"":
                    started = true
                    state = .double
                case "\\":
                    guard index < scalars.count else { throw .danglingBackslash }
                    try refuseControl(scalars[index])
                    current.append(scalars[index])
                    index += 1
                    started = true
                default:
                    try refuseControl(scalar)
                    current.append(scalar)
                    started = true
                }
            case .single:
                if scalar == "'" {
                    state = .plain
                } else {
                    try refuseControl(scalar)
                    current.append(scalar)
                }
            case .double:
                if scalar == "\"" {
                    state = .plain
                } else if scalar == "\\", index < scalars.count, scalars[index] == "\"" || scalars[index] == "\\" {
                    current.append(scalars[index])
                    index += 1
                } else {
                    try refuseControl(scalar)
                    current.append(scalar)
                }
            }
        }
        guard state == .plain else { throw .unterminatedQuote }
        if started { try finish() }
        if parameters.count > limits.maxParameters {
            throw .tooMany(max: limits.maxParameters, got: parameters.count)
        }
        return parameters
    }

    /// Unicode general category Cc: C0 controls, DEL and C1 controls.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }
}
