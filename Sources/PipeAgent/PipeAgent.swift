import CPCP
import PipeCore
import PipeSystem
public enum PipeAgentProbe { public static func version() -> String { String(cString: pmGetConfig("PCP_VERSION")) } }
