// pmdas/pipe/pmns and pmdas/pipe/help are produced from the metric table,
// so the names, PMIDs and help text the agent serves cannot drift from what
// pmcd and pminfo read. A unit test keeps the committed files equal to these.

/// The text of the agent's convention files (PCP's pmns(5) and newhelp(1)
/// formats).
public enum PMDAFiles {
    /// The PMNS: `pipe { name PIPE:cluster:item ... }` with a subtree per
    /// dotted prefix, in the table's order.
    public static func pmns() -> String {
        var out = """
            /*
             * Metric names of the pipe agent.  Generated from PipeCore's metric table
             * (MetricCatalog.swift); a unit test keeps this file equal to it.
             *
             * Cluster 0 keeps the names and item numbers of PCP's C pipe agent, so
             * existing tools, scripts and archives see the same metric IDs.  The other
             * clusters are additions: event record parameters and per-client state (1),
             * per-command totals (2), configuration (3), control metrics (4) and shared
             * runs (5).
             */

            """
        var children: [String: [(name: String, leaf: Metric?)]] = [:]
        var order: [String] = ["pipe"]
        for metric in Metric.allCases {
            let parts = metric.name.split(separator: ".").map(String.init)
            for depth in 1..<parts.count {
                let parent = parts[..<depth].joined(separator: ".")
                let child = parts[depth]
                let leaf = depth == parts.count - 1 ? metric : nil
                if children[parent] == nil { children[parent] = [] }
                if !children[parent]!.contains(where: { $0.name == child }) {
                    children[parent]!.append((child, leaf))
                    if leaf == nil { order.append(parent + "." + child) }
                }
            }
        }
        for node in order {
            out += "\n\(node) {\n"
            for (name, leaf) in children[node] ?? [] {
                if let leaf {
                    out += "    \(name)\t\tPIPE:\(leaf.cluster):\(leaf.item)\n"
                } else {
                    out += "    \(name)\n"
                }
            }
            out += "}\n"
        }
        return out
    }

    /// The help source for newhelp: `@ PIPE.N` per instance domain, then
    /// `@ name one-line` and the long text per metric.
    public static func help() -> String {
        var out = """
            #
            # Help text for the pipe agent's metrics, in PCP's newhelp format.
            # Generated from PipeCore's metric table (MetricCatalog.swift); a unit test
            # keeps this file equal to it.  "@ PIPE.N" describes instance domain N.
            #

            """
        for (indom, oneLine, long) in Metric.indomHelp {
            out += "\n@ PIPE.\(indom.rawValue) \(oneLine)\n\(long)\n"
        }
        for metric in Metric.allCases {
            out += "\n@ \(metric.name) \(metric.oneLineHelp)\n"
            if !metric.longHelp.isEmpty { out += metric.longHelp + "\n" }
        }
        return out
    }
}
