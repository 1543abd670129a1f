#if canImport(Glibc)
    import Glibc
#endif

/// Messages over a stream socket as a 4-byte big-endian length and that many bytes: how a
/// worker and its PDF renderer process (`billing-pdf`) talk. Sent with `MSG_NOSIGNAL`: a
/// peer that has gone is an error to handle, not a SIGPIPE.
public enum Frames {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `message` as one frame, all of it.
    public static func write(_ message: [UInt8], to fd: Int32) throws {
        let count = UInt32(message.count)
        try writeAll((0..<4).map { UInt8(truncatingIfNeeded: count >> (24 - 8 * $0)) }, to: fd)
        try writeAll(message, to: fd)
    }

    /// The next frame; nil at end of stream before one starts. A frame longer than
    /// `maxBytes`, or a stream ending inside one, is a failure.
    public static func read(from fd: Int32, maxBytes: Int) throws -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard try readAll(into: &header, from: fd, endAllowed: true) else { return nil }
        let count = header.reduce(0) { $0 << 8 | Int($1) }
        guard count <= maxBytes else { throw Failure(description: "a frame of \(count) bytes, more than \(maxBytes)") }
        var message = [UInt8](repeating: 0, count: count)
        _ = try readAll(into: &message, from: fd, endAllowed: false)
        return message
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "write failed: errno \(errno)")
                }
                offset += written
            }
        }
    }

    /// Fills `bytes`; false when the stream ends before the first byte and `endAllowed`.
    private static func readAll(into bytes: inout [UInt8], from fd: Int32, endAllowed: Bool) throws -> Bool {
        try bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let got = recv(fd, buffer.baseAddress! + offset, buffer.count - offset, 0)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: errno == EAGAIN ? "timed out" : "read failed: errno \(errno)")
                }
                if got == 0 {
                    if offset == 0 && endAllowed { return false }
                    throw Failure(description: "the stream ended inside a frame")
                }
                offset += got
            }
            return true
        }
    }
}
