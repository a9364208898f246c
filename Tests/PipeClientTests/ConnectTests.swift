import Foundation
import Glibc
import Testing

@testable import PipeClient

/// A unix socket that stands in for pmcd's: it listens with a queue of one
/// pending connection, which a connection of its own fills, so that every
/// client connect(2) fails with EAGAIN, as pmcd's does when a burst of
/// clients overflows its queue of 5. `open(after:)` accepts the filler
/// after a while and answers the next client with pmcd's first PDU (an
/// extended error PDU: status 0, no features), which is all pmNewContext
/// needs.
final class FullQueueSocket: @unchecked Sendable {
    let path: String
    private let listener: Int32
    private let filler: Int32
    private let done = DispatchSemaphore(value: 0)
    /// Signalled once a client got pmcd's first PDU through this socket.
    let served = DispatchSemaphore(value: 0)

    init() throws {
        let path = "/tmp/pipeclient-pmcd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).socket"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard Self.withAddress(path, { bind(listener, $0, $1) }) == 0, listen(listener, 0) == 0 else {
            throw HarnessFailure("cannot listen on \(path): \(String(cString: strerror(errno)))")
        }
        let filler = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard Self.withAddress(path, { connect(filler, $0, $1) }) == 0 else {
            throw HarnessFailure("cannot fill the queue: \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.listener = listener
        self.filler = filler
        // Make sure that the queue is full now: one more non-blocking connect fails with EAGAIN.
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { Glibc.close(probe) }
        guard Self.withAddress(path, { connect(probe, $0, $1) }) == -1, errno == EAGAIN else {
            throw HarnessFailure("a queue of one did not refuse a second connection with EAGAIN")
        }
    }

    /// After `delay`, takes the filler out of the queue and answers the
    /// next client as pmcd does, keeping that connection until `close()`.
    func open(after delay: Double) {
        Thread.detachNewThread { [self] in
            Thread.sleep(forTimeInterval: delay)
            let first = accept(listener, nil, nil)
            Glibc.close(first)
            let client = accept(listener, nil, nil)
            // __pmPDUHdr (len, type PDU_ERROR = 0x7000, from) and the
            // extended error's code and datum, in network byte order.
            var words: [UInt32] = ([20, 0x7000, 0, 0, 0] as [UInt32]).map { $0.bigEndian }
            _ = words.withUnsafeMutableBytes { write(client, $0.baseAddress, $0.count) }
            var credentials = [UInt8](repeating: 0, count: 64)
            if credentials.withUnsafeMutableBytes({ read(client, $0.baseAddress, $0.count) }) > 0 { served.signal() }
            done.wait()
            Glibc.close(client)
        }
    }

    func close() {
        done.signal()
        shutdown(listener, Int32(SHUT_RDWR))  // wakes an accept(2) still waiting
        Glibc.close(filler)
        Glibc.close(listener)
        unlink(path)
    }

    static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Connecting through a unix socket whose queue of pending connections is
/// full: libpcp's connect does not wait for room (EAGAIN is a failure to
/// it), so pmpipe waits, up to libpcp's connect timeout (5 s here).
@Suite(.serialized, .timeLimit(.minutes(1)))
struct ConnectTests {
    /// The queue stays full for 2.5 s: longer than the 20 lock-step
    /// attempts of about 1.5 s pmpipe made before, which 4 to 9 of 100
    /// clients started together outlasted against the real pmcd.
    @Test func aClientWaitsForRoomInAFullQueueAndThenConnects() throws {
        let server = try FullQueueSocket()
        defer { server.close() }
        server.open(after: 2.5)
        let start = Date()
        let context = try PCPContext(host: "unix:" + server.path)
        let waited = Date().timeIntervalSince(start)
        context.close()
        #expect(waited >= 2.4 && waited < 4.5, "connected after \(waited) s")
    }

    /// `local:` is connected as `unix:` while the socket is there: libpcp
    /// would take the full queue for a missing socket and connect over TCP
    /// (to this machine's pmcd, if any), without credentials.
    @Test func localWaitsForTheSocketInsteadOfFallingBackToTCP() throws {
        let server = try FullQueueSocket()
        defer { server.close() }
        server.open(after: 2)
        let start = Date()
        let context = try PCPContext(host: "local:" + server.path)
        let waited = Date().timeIntervalSince(start)
        #expect(server.served.wait(timeout: .now() + 2) == .success, "the connection did not come through the socket")
        context.close()
        #expect(waited >= 1.9 && waited < 4, "connected after \(waited) s")
    }

    @Test func aQueueThatStaysFullEndsTheWaitAtTheConnectTimeoutAndSaysWhy() throws {
        let server = try FullQueueSocket()
        defer { server.close() }
        let start = Date()
        #expect {
            _ = try PCPContext(host: "unix:" + server.path)
        } throws: { error in
            guard case .pmcdQueueFull(let host, let socket, _, _) = error as? PipeClientError else { return false }
            let text = (error as! PipeClientError).description
            return host == "unix:" + server.path && socket == server.path
                && text.contains("is there but took no connection in 5.") && text.contains("PMCD_MAXPENDING")
        }
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 4.9 && waited < 7, "gave up after \(waited) s")
    }

    @Test func withoutASocketThereIsNoPmcdToWaitFor() throws {
        let start = Date()
        #expect {
            _ = try PCPContext(host: "unix:/tmp/pipeclient-no-such-pmcd.socket")
        } throws: { error in
            guard case .cannotConnect = error as? PipeClientError else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(start) < 0.5, "waited for a pmcd that is not there")
    }
}
