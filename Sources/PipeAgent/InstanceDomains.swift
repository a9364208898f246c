import CPCP
import PipeCore
import PipeSystem

/// The configured commands as a PCP instance domain, kept in libpcp_pmda's
/// instance cache. The cache is saved to $PCP_VAR_DIR/config/pmda/128.0 (the
/// file PCP's C pipe agent uses too), so a command keeps its instance number
/// across restarts, reloads and a switch between the two agents; commands
/// removed from the configuration become inactive but keep their numbers.
struct CommandInstances {
    let indom: pmInDom
    private(set) var numberByName: [String: Int32] = [:]
    private(set) var nameByNumber: [Int32: String] = [:]

    init(indom: pmInDom) {
        self.indom = indom
        let status = pmdaCacheOp(indom, PMDA_CACHE_LOAD)
        if status < 0 && status != -Errno.noSuchFile {
            Log.warning("cannot load the saved instance numbers: \(String(cString: pmErrStr(status)))")
        }
    }

    /// Makes exactly `names` the active instances, assigning new numbers to
    /// new names. (pmdaCacheStore copies each name.)
    mutating func activate(_ names: [String]) {
        pmdaCacheOp(indom, PMDA_CACHE_INACTIVE)
        numberByName = [:]
        nameByNumber = [:]
        for name in names where numberByName[name] == nil {
            let inst = name.withCString { pmdaCacheStore(indom, PMDA_CACHE_ADD, $0, nil) }
            if inst < 0 {
                Log.error("cannot add instance \(name): \(String(cString: pmErrStr(inst)))")
                continue
            }
            numberByName[name] = inst
            nameByNumber[inst] = name
        }
        let status = pmdaCacheOp(indom, PMDA_CACHE_SAVE)
        if status < 0 {
            Log.warning("cannot save the instance numbers: \(String(cString: pmErrStr(status)))")
        }
    }
}
