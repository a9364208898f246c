import Foundation
import PipeSystem
import Testing

struct MemoryTests {
    @Test func droppingStartupPagesAdvisesOnlyCleanMappingsAndTheProcessKeepsWorking() throws {
        let advised = Memory.dropStartupPages()
        #expect(advised > 0, "the test binary's code mapping is clean and should be advised")
        // Code and relocated data still work after the drop (the RELRO pages
        // must not have been advised, or these pointers would be garbage).
        let text = (1...1000).map(String.init).joined(separator: ",")
        #expect(text.split(separator: ",").count == 1000)
        #expect([3, 1, 2].sorted() == [1, 2, 3])
    }
}
