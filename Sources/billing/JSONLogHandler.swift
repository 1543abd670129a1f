import Common
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one JSON object per log line to stderr: time, level, message, pid and metadata
/// (including the request id of the request that caused the line).
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let label: String

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.field("time", Timestamp.now())
        json.field("level", event.level.rawValue)
        json.field("msg", event.message.description)
        json.field("process", Int(getpid()))
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            json.field(key, value.description)
        }
        json.endObject()
        var bytes = json.bytes
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
