// billing-pdf: a worker's PDF renderer. Its worker starts it at its first render with one
// end of a socket pair as standard input, then sends each sheet as a frame and reads the
// PDF's bytes back as one. Kept apart so that pango, cairo, harfbuzz, fontconfig and GLib
// are mapped into this process alone, not into every worker, and so that a fault in a font
// library on a hostile name costs a render, not a worker. It exits at the end of its input,
// which is when its worker closes the socket or dies.
import Billing
import Common
import PDFRendering

#if canImport(Glibc)
    import Glibc
#endif

/// A line for the worker's log (standard error is the pool's).
func fail(_ message: String, status: Int32) -> Never {
    let line = Array("billing-pdf: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}

do {
    while let request = try Frames.read(from: 0, maxBytes: DocumentSheet.maxWireBytes) {
        guard let (sheet, createdAt) = DocumentSheet.fromWire(request) else {
            fail("a request that is not a sheet", status: 2)
        }
        try Frames.write(PDFRenderer.render(sheet, createdAt: createdAt), to: 0)
    }
} catch {
    fail("\(error)", status: 1)
}
