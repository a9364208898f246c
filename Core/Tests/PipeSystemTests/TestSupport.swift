import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

let isRoot = getuid() == 0

/// Everything a finished command produced.
struct Finished {
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var termination: Termination = .exited(code: -1)
    var out: String { String(decoding: stdout, as: UTF8.self) }
    var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// A request for `/bin/sh -c script` as the test's own user (root here).
func shell(
    _ script: String, userID: UInt32 = getuid(), groupID: UInt32 = getgid(),
    groups: [UInt32] = [], capabilities: [Int32]? = nil
) -> SpawnRequest {
    let account = Accounts.user(id: userID)
    return SpawnRequest(
        executablePath: "/bin/sh", arguments: ["sh", "-c", script],
        environment: LaunchPlanner.environment(
            for: RunAccount(name: account?.name ?? "?", uid: 0, gid: 0, groups: [], home: account?.home ?? "/")),
        userID: userID, groupID: groupID, supplementaryGroups: groups,
        capabilities: capabilities)
}

/// Reads both pipes to end of file (bounded), closes them, then waits for the pid.
func collect(_ process: SpawnedProcess, timeoutSeconds: Double = 20) throws -> Finished {
    var finished = Finished()
    var open: Set<Int> = [1, 2]
    let deadline = Clock.monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
    defer { buffer.deallocate() }
    while !open.isEmpty {
        guard Clock.monotonicNanoseconds() < deadline else {
            throw TestFailure("command \(process.pid) did not finish")
        }
        var set = PollSet()
        if open.contains(1) { set.add(process.stdout, token: 1) }
        if open.contains(2) { set.add(process.stderr, token: 2) }
        for token in try set.wait(timeoutMilliseconds: 200) {
            let fd = token == 1 ? process.stdout : process.stderr
            drain: while true {
                switch try fd.read(into: buffer) {
                case .bytes(let n):
                    if token == 1 { finished.stdout += buffer[0..<n] } else { finished.stderr += buffer[0..<n] }
                case .wouldBlock: break drain
                case .endOfFile:
                    open.remove(token)
                    break drain
                }
            }
        }
    }
    process.stdout.close()
    process.stderr.close()
    finished.termination = try Reaper.wait(for: process.pid)
    return finished
}

func run(_ request: SpawnRequest) throws -> Finished {
    try collect(Spawner.spawn(request))
}

/// Reads one line from a nonblocking descriptor (bounded wait).
func readLine(_ fd: FileDescriptor, timeoutSeconds: Double = 20) throws -> String {
    var bytes: [UInt8] = []
    let deadline = Clock.monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
    var byte: UInt8 = 0
    while Clock.monotonicNanoseconds() < deadline {
        var set = PollSet()
        set.add(fd, token: 0)
        _ = try set.wait(timeoutMilliseconds: 100)
        let result = try withUnsafeMutableBytes(of: &byte) { try fd.read(into: $0) }
        switch result {
        case .bytes:
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        case .wouldBlock: continue
        case .endOfFile: return String(decoding: bytes, as: UTF8.self)
        }
    }
    throw TestFailure("no line within \(timeoutSeconds)s")
}

/// Polls `condition` every 10 ms until true or the deadline; returns the last value.
@discardableResult
func eventually(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Clock.monotonicNanoseconds() + UInt64(seconds * 1e9)
    while Clock.monotonicNanoseconds() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Pids whose process group is `pgid` (from /proc).
func members(ofGroup pgid: Int32) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { ProcessInfoProbe.stat(of: $0)?.processGroup == pgid }
}

/// The value of `key:` in /proc/<pid>/status, whitespace-trimmed.
func procStatus(_ pid: Int32, _ key: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
        return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
    }
    return nil
}

/// Parses `Key:\tvalue` lines printed by `grep ... /proc/self/status` in a child.
func statusFields(_ text: String) -> [String: String] {
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return fields
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// /proc readers only the leak tests need.
extension ProcessInfoProbe {
    /// How many descriptors `pid` has open (entries of /proc/<pid>/fd).
    static func openDescriptorCount(pid: Int32) -> Int? {
        try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }

    /// Resident set size in bytes (/proc/<pid>/statm, second field × page size).
    static func residentSetBytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
