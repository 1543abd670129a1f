import Billing
import CShim
import Common
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Renders PDFs through `billing-pdf`, a child process the worker starts at its first render
/// and keeps (see that executable for why it is apart). One render at a time per worker, as
/// pango's font map is one per process; a renderer that fails or dies is replaced and the
/// render tried once more.
public enum PDFRendererProcess {
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The renderer's path: `BILLING_PDF_RENDERER`, or `billing-pdf` beside this executable.
    public static let path: String = {
        if let path = getenv("BILLING_PDF_RENDERER") { return String(cString: path) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return "billing-pdf" }
        let executable = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            + "/billing-pdf"
    }()

    /// A render may take this long before the renderer is given up on (a 200-line invoice
    /// takes about 10 ms).
    static let timeoutMillis: Int32 = 30_000

    private static let renderer = Mutex<Renderer?>(nil)

    public static func render(_ sheet: DocumentSheet, createdAt: String) throws -> [UInt8] {
        let request = sheet.wireBytes(createdAt: createdAt)
        return try renderer.withLock { renderer in
            var lastError: any Error = Unavailable(description: "not tried")
            for _ in 0..<2 {
                do {
                    if renderer == nil { renderer = try Renderer.start(path) }
                    return try renderer!.exchange(request)
                } catch {
                    lastError = error
                    renderer?.stop()
                    renderer = nil
                }
            }
            throw Unavailable(description: "the PDF renderer failed: \(lastError)")
        }
    }
}

/// A running `billing-pdf` and this end of its socket.
private struct Renderer {
    let pid: pid_t
    let socket: Int32

    static func start(_ path: String) throws -> Renderer {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw PDFRendererProcess.Unavailable(description: "socketpair failed: errno \(errno)")
        }
        // The child gets its end as standard input (dup2 clears close-on-exec there) and no
        // other descriptor of the worker's: an inherited FastCGI connection would stay open
        // after the worker closed it.
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { free(argv[0]) }
        let pid = CShim_spawnAlone(path, &argv, environ, fds[1])
        close(fds[1])
        guard pid > 0 else {
            close(fds[0])
            throw PDFRendererProcess.Unavailable(description: "cannot start \(path): errno \(-pid)")
        }
        _ = CShim_setReceiveTimeout(fds[0], PDFRendererProcess.timeoutMillis)
        return Renderer(pid: pid, socket: fds[0])
    }

    func exchange(_ request: [UInt8]) throws -> [UInt8] {
        try Frames.write(request, to: socket)
        guard let pdf = try Frames.read(from: socket, maxBytes: DocumentSheet.maxPDFBytes) else {
            throw PDFRendererProcess.Unavailable(description: "the renderer exited")
        }
        return pdf
    }

    func stop() {
        close(socket)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
