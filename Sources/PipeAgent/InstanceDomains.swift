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

/// Shared runs as a PCP instance domain (PIPE.1): one instance per run,
/// named NAME.SEQ. The numbers come from libpcp_pmda's instance cache,
/// saved to disk like the commands', and a finished run's instance only
/// becomes inactive: neither names nor numbers are ever reused, so an
/// archive never mixes two runs under one instance.
struct RunInstances {
    let indom: pmInDom
    /// The next SEQ of each command.
    private var nextSequence: [String: Int] = [:]

    init(indom: pmInDom) {
        self.indom = indom
        let status = pmdaCacheOp(indom, PMDA_CACHE_LOAD)
        if status < 0 && status != -Errno.noSuchFile {
            Log.warning("cannot load the saved run instances: \(String(cString: pmErrStr(status)))")
        }
        // Runs do not survive the agent: every saved one is finished. Their
        // names still count, so that SEQ goes on from the highest.
        pmdaCacheOp(indom, PMDA_CACHE_INACTIVE)
        pmdaCacheOp(indom, PMDA_CACHE_WALK_REWIND)
        while true {
            let inst = pmdaCacheOp(indom, PMDA_CACHE_WALK_NEXT)
            if inst < 0 { break }
            var name: UnsafeMutablePointer<CChar>?
            guard pmdaCacheLookup(indom, inst, &name, nil) >= 0, let name else { continue }
            let text = String(cString: name)
            guard let dot = text.lastIndex(of: "."), let sequence = Int(text[text.index(after: dot)...]) else {
                continue
            }
            let command = String(text[..<dot])
            nextSequence[command] = max(nextSequence[command] ?? 1, sequence + 1)
        }
    }

    /// A new run of `command`: its name and instance number.
    mutating func add(command: String) -> (name: String, instance: Int32) {
        let sequence = nextSequence[command] ?? 1
        nextSequence[command] = sequence + 1
        let name = "\(command).\(sequence)"
        let inst = name.withCString { pmdaCacheStore(indom, PMDA_CACHE_ADD, $0, nil) }
        pmdaCacheOp(indom, PMDA_CACHE_SAVE)
        return (name, inst)
    }

    /// A culled run: its instance goes inactive (kept, never reused).
    func retire(_ instance: Int32) {
        var name: UnsafeMutablePointer<CChar>?
        guard pmdaCacheLookup(indom, instance, &name, nil) >= 0, let name else { return }
        pmdaCacheStore(indom, PMDA_CACHE_HIDE, name, nil)
        pmdaCacheOp(indom, PMDA_CACHE_SAVE)
    }
}
