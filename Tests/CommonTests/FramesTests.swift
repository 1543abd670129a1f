import Common
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Frames over a real socket pair, as between a worker and its PDF renderer.
@Suite struct FramesTests {
    /// Both ends of a stream socket pair, closed after `body`.
    func withSocketPair(_ body: (Int32, Int32) throws -> Void) throws {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        try body(fds[0], fds[1])
    }

    @Test func framesArriveWholeAndInOrder() throws {
        try withSocketPair { a, b in
            let messages: [[UInt8]] = [[], Array("%PDF-1.7".utf8), [UInt8](repeating: 7, count: 100_000)]
            // Larger than the socket's buffer: written on one thread while another reads.
            let received = inParallel(2) { index -> [[UInt8]] in
                if index == 0 {
                    for message in messages { try? Frames.write(message, to: a) }
                    return []
                }
                return messages.map { _ in (try? Frames.read(from: b, maxBytes: 1 << 20)) ?? [9] }
            }
            #expect(received[1] == messages)
        }
    }

    @Test func theEndOfTheStreamIsNilBetweenFramesAndAFailureInsideOne() throws {
        try withSocketPair { a, b in
            try Frames.write([1, 2, 3], to: a)
            shutdown(a, Int32(SHUT_WR))
            #expect(try Frames.read(from: b, maxBytes: 16) == [1, 2, 3])
            #expect(try Frames.read(from: b, maxBytes: 16) == nil)
        }
        try withSocketPair { a, b in
            _ = [UInt8]([0, 0, 0, 9, 1, 2]).withUnsafeBytes { write(a, $0.baseAddress, $0.count) }
            shutdown(a, Int32(SHUT_WR))
            #expect(throws: Frames.Failure.self) { try Frames.read(from: b, maxBytes: 16) }
        }
    }

    @Test func aFrameOverTheLimitIsRefusedBeforeItIsRead() throws {
        try withSocketPair { a, b in
            try Frames.write([UInt8](repeating: 0, count: 17), to: a)
            #expect(throws: Frames.Failure.self) { try Frames.read(from: b, maxBytes: 16) }
        }
    }

    @Test func writingToAClosedPeerIsAnErrorNotASignal() throws {
        try withSocketPair { a, b in
            // The peer stops reading, as a closed one would. Not `close(b)`: the pair's
            // descriptors are closed again after the test, and a descriptor number freed
            // here can be another test's by then (tests run in parallel: closing it twice
            // closed another test's socket halfway through its frames).
            shutdown(b, Int32(SHUT_RD))
            #expect(throws: Frames.Failure.self) { try Frames.write([UInt8](repeating: 0, count: 1 << 20), to: a) }
        }
    }
}
