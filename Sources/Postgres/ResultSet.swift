import CLibPQ
import Common

/// The rows of one statement, in PostgreSQL's text format. Owns its `PGresult`.
public final class ResultSet {
    let handle: OpaquePointer
    public let rowCount: Int
    public let columnCount: Int

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
    }

    deinit { PQclear(handle) }

    /// The number of rows an INSERT/UPDATE/DELETE touched.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    public var rows: [Row] { (0..<rowCount).map { Row(result: self, index: $0) } }

    public var first: Row? { rowCount > 0 ? Row(result: self, index: 0) : nil }

    public subscript(index: Int) -> Row { Row(result: self, index: index) }
}

/// One row of a `ResultSet`. Columns are read by position, in the order of the SELECT list.
public struct Row {
    let result: ResultSet
    let index: Int
    /// Where column 0 of this view is: a row of a join is read as its parts.
    var firstColumn = 0

    init(result: ResultSet, index: Int) {
        self.result = result
        self.index = index
    }

    /// The same row with its first `count` columns skipped: the columns of the joined table
    /// in `SELECT parent.*, child.* …`, read with the child's own decoder.
    public func dropping(_ count: Int) -> Row {
        var row = self
        row.firstColumn += count
        return row
    }

    public func isNull(_ column: Int) -> Bool {
        PQgetisnull(result.handle, Int32(index), Int32(firstColumn + column)) == 1
    }

    /// The column's text as libpq holds it (NUL-terminated), valid while the result lives.
    private func text(_ column: Int) -> UnsafeMutablePointer<CChar>? {
        PQgetvalue(result.handle, Int32(index), Int32(firstColumn + column))
    }

    public func string(_ column: Int) -> String? {
        guard !isNull(column) else { return nil }
        return String(cString: text(column)!)
    }

    public func int64(_ column: Int) -> Int64? {
        guard !isNull(column) else { return nil }
        // Parse the digits in place: no intermediate String.
        var pointer = text(column)!
        var negative = false
        if pointer.pointee == CChar(UInt8(ascii: "-")) {
            negative = true
            pointer += 1
        }
        // Accumulated negatively, whose range is one larger (Int64.min reads); a value out of
        // range or a byte that is no digit is nil, never a trap.
        var value: Int64 = 0
        while pointer.pointee != 0 {
            let digit = Int64(pointer.pointee) - Int64(UInt8(ascii: "0"))
            guard (0...9).contains(digit) else { return nil }
            let (times10, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (next, underflowed) = times10.subtractingReportingOverflow(digit)
            guard !overflowed, !underflowed else { return nil }
            value = next
            pointer += 1
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    public func int(_ column: Int) -> Int? { int64(column).map { Int($0) } }

    public func bool(_ column: Int) -> Bool? {
        guard !isNull(column) else { return nil }
        return text(column)!.pointee == CChar(UInt8(ascii: "t"))
    }

    /// The column's bytes, read in place: no String is made for ids and timestamps.
    private func bytes(_ column: Int) -> UnsafeBufferPointer<UInt8>? {
        guard !isNull(column), let value = text(column) else { return nil }
        let length = Int(PQgetlength(result.handle, Int32(index), Int32(firstColumn + column)))
        return UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: length)
    }

    /// A `bytea` column, which the text protocol sends as `\x` and hex digits.
    public func bytea(_ column: Int) -> [UInt8]? {
        guard let text = bytes(column), text.count >= 2, text[0] == UInt8(ascii: "\\"),
            text[1] == UInt8(ascii: "x"), text.count % 2 == 0
        else { return nil }
        var result = [UInt8](repeating: 0, count: (text.count - 2) / 2)
        for index in result.indices {
            guard let high = hexValue(text[2 + 2 * index]), let low = hexValue(text[3 + 2 * index]) else { return nil }
            result[index] = high << 4 | low
        }
        return result
    }

    public func timestamp(_ column: Int) -> Timestamp? { bytes(column).flatMap { Timestamp(utf8: $0) } }

    public func uuid(_ column: Int) -> UUID128? { bytes(column).flatMap { UUID128(utf8: $0) } }

    // Inlinable, like `required`: specialized where it is called, instead of looking up
    // generic metadata for every column of every row.
    @inlinable
    public func id<Entity>(_ column: Int, as: Entity.Type = Entity.self) -> ID<Entity>? {
        uuid(column).map { ID($0) }
    }
}
