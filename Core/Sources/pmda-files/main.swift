// Writes pmdas/pipe/pmns and pmdas/pipe/help from PipeCore's metric table.
// Usage: pmda-files DIRECTORY (scripts/pmda-files passes the repository's pmdas/pipe).
import Foundation
import PipeCore

let directory = CommandLine.arguments.dropFirst().first ?? "pmdas/pipe"
try PMDAFiles.pmns().write(toFile: directory + "/pmns", atomically: true, encoding: .utf8)
try PMDAFiles.help().write(toFile: directory + "/help", atomically: true, encoding: .utf8)
print("wrote \(directory)/pmns and \(directory)/help")
