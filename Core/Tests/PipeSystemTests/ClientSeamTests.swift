// The typed wrappers pmpipe reaches the C library through: recorded signals,
// sleeps and writes that a signal cuts short, errno values, local time and
// malloc's thresholds.
import Foundation
import Glibc
import PipeCore
import PipeSystem
import Testing

/// Sends `signal` to `thread` after `delay`, from another thread.
private func signal(_ thread: pthread_t, _ signal: Signal, after delay: TimeInterval) {
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: delay)
        pthread_kill(thread, signal.rawValue)
    }
}

/// Serialized: the recorder and the dispositions it installs are process-wide.
@Suite(.serialized) struct SignalRecorderTests {
    /// SIGWINCH: ignored by default, used by no other test, so recording it
    /// disturbs nothing.
    static let probe = Signal(rawValue: SIGWINCH)

    @Test func aRecordedSignalIsNotedAndDoesNothingElse() throws {
        try SignalRecorder.record([Self.probe])
        pthread_kill(pthread_self(), Self.probe.rawValue)
        #expect(SignalRecorder.recorded == Self.probe)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSignalCutsASleepShortAndTellsHowMuchWasLeft() throws {
        try SignalRecorder.record([Self.probe])
        signal(pthread_self(), Self.probe, after: 0.1)
        let clock = ContinuousClock()
        let start = clock.now
        let left = Clock.sleep(for: .seconds(20))
        #expect(start.duration(to: clock.now) < .seconds(10))
        #expect(left > .seconds(10) && left <= .seconds(20))
    }

    @Test(.timeLimit(.minutes(1)))
    func aWriteASignalInterruptsIsReportedNotRetried() throws {
        try SignalRecorder.record([Self.probe])
        let (reader, writer) = try FileDescriptor.pipe()
        defer {
            reader.close()
            writer.close()
        }
        // Fill the pipe, so that the next blocking write waits for a reader
        // that never reads.
        try writer.setNonBlocking()
        let chunk = [UInt8](repeating: 0x78, count: 4096)
        var full = false
        while !full {
            do {
                _ = try chunk.withUnsafeBytes { try writer.write($0) }
            } catch let error as SystemError {
                full = error.code == .tryAgain
            }
        }
        try writer.setBlocking()
        signal(pthread_self(), Self.probe, after: 0.1)
        #expect { try chunk.withUnsafeBytes { try writer.write($0, retryOnInterrupt: false) } } throws: {
            ($0 as? SystemError)?.code == .interrupted
        }
    }

    @Test func aWriteNobodyWillReadIsABrokenPipe() throws {
        try Signals.ignore(.pipe)
        let (reader, writer) = try FileDescriptor.pipe()
        defer { writer.close() }
        reader.close()
        #expect { try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try writer.write($0) } } throws: {
            ($0 as? SystemError)?.code == .brokenPipe
        }
    }
}

@Suite struct ClientSeamTests {
    @Test func aWholeSleepLeavesNothing() {
        #expect(Clock.sleep(for: .milliseconds(5)) == .zero)
        #expect(Clock.sleep(for: .zero) == .zero)
        #expect(Clock.sleep(for: .milliseconds(-1)) == .zero)
    }

    @Test func errnoValuesAreTheCLibrarysAndNegateAsPCPReportsThem() {
        #expect(Errno.tryAgain.rawValue == EAGAIN)
        #expect(Errno.interrupted.rawValue == EINTR)
        #expect(Errno.brokenPipe.rawValue == EPIPE)
        #expect(Errno.permissionDenied.rawValue == EACCES)
        #expect(Errno.notPermitted.rawValue == EPERM)
        #expect(Errno.noSuchFile.rawValue == ENOENT)
        #expect(-Errno.tryAgain == -EAGAIN)
        #expect(Errno.brokenPipe.description == String(cString: strerror(EPIPE)))
        #expect(SystemError(operation: "write", errno: EPIPE).code == .brokenPipe)
    }

    @Test func signalNumbersAreTheCLibrarys() {
        #expect(Signal.hangup.rawValue == SIGHUP)
        #expect(Signal.interrupt.rawValue == SIGINT)
        #expect(Signal.pipe.rawValue == SIGPIPE)
        #expect(Signal.terminate.rawValue == SIGTERM)
    }

    @Test func localTimeKeepsTheSecondsOfTheMinute() {
        // Time zones are whole minutes off UTC today, whichever this machine uses.
        for seconds: Int64 in [0, 59, 1_700_000_000, 1_800_000_123] {
            let time = Clock.localTime(secondsSinceEpoch: seconds)
            #expect(time.second == Int(seconds % 60))
            #expect((0..<24).contains(time.hour) && (0..<60).contains(time.minute))
        }
    }

    @Test func glibcTakesFixedHeapThresholds() {
        #expect(Memory.keepFreedHeapMapped(mmapThreshold: 16 << 20, trimThreshold: 64 << 20))
    }
}
