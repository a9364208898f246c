import Glibc
import Testing

@testable import PipeClient

@Suite struct StoreRequestTests {
    @Test func thePDUSizeIsHeaderValueSetAndThePaddedValueBlock() {
        // 32 (the larger result header) + 20 (value set) + 4 + n + 1 rounded up to 4.
        #expect(StoreRequest.pduBytes(parameterBytes: 0) == 32 + 20 + 8)
        #expect(StoreRequest.pduBytes(parameterBytes: 3) == 32 + 20 + 8)
        #expect(StoreRequest.pduBytes(parameterBytes: 4) == 32 + 20 + 12)
        #expect(StoreRequest.pduBytes(parameterBytes: 7) == 32 + 20 + 12)
        #expect(StoreRequest.pduBytes(parameterBytes: 65_479) == 65_536)
    }

    @Test func parametersUpToPmcdsLimitPassAndOneByteMoreIsRefused() throws {
        let largest = String(repeating: "a", count: 65_479)
        #expect(try StoreRequest(parameters: largest).pduBytes == StoreRequest.pmcdLimit)
        #expect(throws: PipeClientError.requestTooLarge(parameterBytes: 65_480, pduBytes: 65_540, limit: 65_536)) {
            try StoreRequest(parameters: largest + "a")
        }
        // Bytes count, not characters: "é" is two.
        #expect(throws: PipeClientError.self) { try StoreRequest(parameters: String(repeating: "é", count: 32_740)) }
        #expect(try StoreRequest(parameters: "5 sda").parameters == "5 sda")
    }

    @Test func theRefusalIsOneSentenceNamingTheLimitAndTheSize() {
        let error = PipeClientError.requestTooLarge(parameterBytes: 70_000, pduBytes: 70_060, limit: 65_536)
        #expect(
            error.description == "the parameters are too long: their 70000 bytes make a request of 70060 bytes, "
                + "more than the 65536 bytes pmcd accepts from a client")
        #expect(!error.description.contains("\n"))
    }

    /// pmpipe says so and exits 255 before it connects: the host here does
    /// not exist, and the message is about the size, not the connection.
    @Test func pmpipeRefusesAnOversizedRequestBeforeConnecting() throws {
        let stderr = ScratchFile()
        let saved = dup(2)
        dup2(stderr.fd, 2)
        let status = Pmpipe.run(
            Pmpipe.Options(
                host: "unix:/nonexistent/pmcd.socket", prefix: "pipe", instance: "echo",
                parameters: String(repeating: "x", count: 70_000), interval: .default, verbose: false))
        dup2(saved, 2)
        close(saved)
        #expect(status == Pmpipe.Status.failure)
        // fd 2 is the process's: swift-testing may print other tests' progress
        // there while it is redirected, so only pmpipe's own lines are compared.
        let pmpipeLines = stderr.text.split(separator: "\n").filter { $0.hasPrefix("pmpipe") }
        #expect(
            pmpipeLines == [
                "pmpipe: the parameters are too long: their 70000 bytes make a request of 70060 bytes, "
                    + "more than the 65536 bytes pmcd accepts from a client"
            ], "\(stderr.text)")
    }
}
