/// A sheet and its PDF's creation date as bytes, for the PDF renderer process: strings as a
/// 4-byte length and their UTF-8, lists as a 4-byte count and their items, in field order.
/// Both ends are this file, built into the one release, so the format needs no version.
extension DocumentSheet {
    /// Bounds for the renderer's frames: a sheet is a few kilobytes per hundred lines.
    public static let maxWireBytes = 16 << 20
    public static let maxPDFBytes = 64 << 20

    public func wireBytes(createdAt: String) -> [UInt8] {
        var writer = WireWriter()
        writer.string(createdAt)
        writer.string(title)
        writer.string(number)
        writer.string(mark ?? "")
        writer.list(seller) { $0.string($1) }
        writer.list(billTo) { $0.string($1) }
        writer.list(facts) { $0.strings($1.label, $1.value) }
        writer.list(lines) { $0.strings($1.description, $1.period, $1.quantity, $1.unitPrice, $1.amount) }
        writer.list(totals) { $0.strings($1.label, $1.amount, $1.emphasized ? "1" : "") }
        writer.list(tables) { writer, table in
            writer.string(table.title)
            writer.list(table.headings) { $0.string($1) }
            writer.list(table.rows) { writer, row in writer.list(row) { $0.string($1) } }
        }
        return writer.bytes
    }

    /// The sheet and creation date of `wireBytes(createdAt:)`; nil for anything else.
    public static func fromWire(_ bytes: [UInt8]) -> (sheet: DocumentSheet, createdAt: String)? {
        var reader = WireReader(bytes: bytes)
        guard let createdAt = reader.string(), let sheet = DocumentSheet(&reader), reader.isAtEnd else { return nil }
        return (sheet, createdAt)
    }

    private init?(_ reader: inout WireReader) {
        guard let title = reader.string(), let number = reader.string(), let mark = reader.string(),
            let seller = reader.list({ $0.string() }), let billTo = reader.list({ $0.string() }),
            let facts = reader.list({ reader -> Fact? in
                guard let label = reader.string(), let value = reader.string() else { return nil }
                return Fact(label, value)
            }),
            let lines = reader.list({ reader -> Line? in
                guard let description = reader.string(), let period = reader.string(),
                    let quantity = reader.string(), let unitPrice = reader.string(), let amount = reader.string()
                else { return nil }
                return Line(
                    description: description, period: period, quantity: quantity, unitPrice: unitPrice,
                    amount: amount)
            }),
            let totals = reader.list({ reader -> Total? in
                guard let label = reader.string(), let amount = reader.string(), let emphasized = reader.string()
                else { return nil }
                return Total(label: label, amount: amount, emphasized: !emphasized.isEmpty)
            }),
            let tables = reader.list({ reader -> Table? in
                guard let title = reader.string(), let headings = reader.list({ $0.string() }),
                    let rows = reader.list({ $0.list({ $0.string() }) })
                else { return nil }
                return Table(title: title, headings: headings, rows: rows)
            })
        else { return nil }
        self.init(
            title: title, number: number, mark: mark.isEmpty ? nil : mark, seller: seller, billTo: billTo,
            facts: facts, lines: lines, totals: totals, tables: tables)
    }

    init(
        title: String, number: String, mark: String?, seller: [String], billTo: [String], facts: [Fact],
        lines: [Line], totals: [Total], tables: [Table]
    ) {
        self.title = title
        self.number = number
        self.mark = mark
        self.seller = seller
        self.billTo = billTo
        self.facts = facts
        self.lines = lines
        self.totals = totals
        self.tables = tables
    }
}

private struct WireWriter {
    var bytes: [UInt8] = []

    mutating func count(_ value: Int) {
        let count = UInt32(value)
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift)))
        }
    }

    mutating func string(_ text: String) {
        count(text.utf8.count)
        bytes.append(contentsOf: text.utf8)
    }

    mutating func strings(_ texts: String...) {
        for text in texts { string(text) }
    }

    mutating func list<Item>(_ items: [Item], _ write: (inout WireWriter, Item) -> Void) {
        count(items.count)
        for item in items { write(&self, item) }
    }
}

private struct WireReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func count() -> Int? {
        guard bytes.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func string() -> String? {
        guard let length = count(), bytes.count - offset >= length else { return nil }
        defer { offset += length }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    /// A list of at most one item per remaining byte: a corrupt count cannot ask for more.
    mutating func list<Item>(_ read: (inout WireReader) -> Item?) -> [Item]? {
        guard let count = count(), count <= bytes.count - offset else { return nil }
        var items: [Item] = []
        items.reserveCapacity(count)
        for _ in 0..<count {
            guard let item = read(&self) else { return nil }
            items.append(item)
        }
        return items
    }
}
