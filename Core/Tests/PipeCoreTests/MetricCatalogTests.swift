import Foundation
import Testing

@testable import PipeCore

/// The metric table is the one source of names, PMIDs and help text.
struct MetricCatalogTests {
    static let pmdaDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("pmdas/pipe")

    @Test func everyMetricHasAUniquePMIDAndName() {
        let ids = Metric.allCases.map { "\($0.cluster).\($0.item)" }
        #expect(Set(ids).count == ids.count)
        #expect(Set(Metric.allCases.map(\.name)).count == Metric.allCases.count)
        for metric in Metric.allCases {
            #expect(Metric.lookup(cluster: metric.cluster, item: metric.item) == metric)
            #expect(!metric.oneLineHelp.isEmpty, "\(metric.name)")
        }
    }

    /// PCP's C agent's PMIDs stay as they were (same tools, same archives).
    @Test func clusterZeroIsPCPsPipeAgent() {
        let pcp: [(String, UInt32)] = [
            ("pipe.numclients", 0), ("pipe.maxmemory", 1), ("pipe.commands", 2), ("pipe.line", 3),
            ("pipe.firehose", 4), ("pipe.queue.memused", 5), ("pipe.queue.count", 6), ("pipe.queue.bytes", 7),
            ("pipe.queue.numclients", 8),
        ]
        for (name, item) in pcp {
            let metric = Metric.allCases.first { $0.name == name }
            #expect(metric?.cluster == 0 && metric?.item == item, "\(name)")
        }
    }

    /// Regenerate with: swift run --package-path Core pmda-files (see scripts/pmda-files).
    @Test func theCommittedPMNSAndHelpFilesAreGeneratedFromTheTable() throws {
        let pmns = try String(contentsOf: Self.pmdaDirectory.appendingPathComponent("pmns"), encoding: .utf8)
        let help = try String(contentsOf: Self.pmdaDirectory.appendingPathComponent("help"), encoding: .utf8)
        #expect(pmns == PMDAFiles.pmns(), "pmdas/pipe/pmns differs from the table: run scripts/pmda-files")
        #expect(help == PMDAFiles.help(), "pmdas/pipe/help differs from the table: run scripts/pmda-files")
    }
}
