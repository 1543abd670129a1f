import Common

/// A document's content as people read it, every value already written out (money by its
/// currency's minor unit, dates as ISO dates in UTC): the one source that the hosted page
/// (HTML) and the PDF both lay out, so that the two can never disagree.
public struct DocumentSheet: Equatable, Sendable {
    public struct Line: Equatable, Sendable {
        public var description: String
        public var period: String
        public var quantity: String
        public var unitPrice: String
        public var amount: String
    }

    public struct Total: Equatable, Sendable {
        public var label: String
        public var amount: String
        /// The figure the reader looks for (total, amount due or remaining).
        public var emphasized = false
    }

    public struct Fact: Equatable, Sendable {
        public var label: String
        public var value: String
        init(_ label: String, _ value: String) {
            self.label = label
            self.value = value
        }
    }

    /// A table under the totals (payments, credit notes): a title, headings and rows.
    public struct Table: Equatable, Sendable {
        public var title: String
        public var headings: [String]
        public var rows: [[String]]
    }

    /// "Invoice" or "Credit note".
    public var title: String
    public var number: String
    /// PAID, VOID, UNCOLLECTIBLE: a mark across the page; nil for an open invoice.
    public var mark: String?
    public var seller: [String]
    public var billTo: [String]
    /// Number, dates and the like, as label and value.
    public var facts: [Fact]
    public var lines: [Line]
    public var totals: [Total]
    public var tables: [Table]

    /// An invoice's sheet. `asFinalized` leaves out what happened after finalization
    /// (payments, credit notes, the remaining amount and a later status): the PDF is the
    /// invoice as it was finalized; the hosted page shows it as it is now.
    public init(invoice document: InvoiceDocument, settings: DocumentSettings, asFinalized: Bool) {
        let invoice = document.invoice
        let money = { (amount: Int64) in MoneyFormat.format(amount, currency: invoice.currency) }
        title = "Invoice"
        number = invoice.number ?? "Draft"
        // As finalized, only an invoice paid by its finalization (nothing was due) is marked.
        mark =
            asFinalized
            ? (invoice.paidAt == invoice.finalizedAt && invoice.status == .paid ? "PAID" : nil)
            : Self.mark(of: invoice.status)
        seller = Self.seller(settings)
        billTo = [document.customerName, document.customerEmail].filter { !$0.isEmpty }
        facts = [Fact("Invoice number", number)]
        if let finalized = invoice.finalizedAt { facts.append(Fact("Date of issue", Self.date(finalized))) }
        if let due = invoice.dueAt { facts.append(Fact("Date due", Self.date(due))) }
        if !asFinalized, let paid = invoice.paidAt { facts.append(Fact("Date paid", Self.date(paid))) }
        if let voided = invoice.voidedAt, !asFinalized { facts.append(Fact("Date voided", Self.date(voided))) }
        facts.append(Fact("Period", Self.period(invoice.periodStart, invoice.periodEnd)))
        if let description = invoice.description { facts.append(Fact("Description", description)) }
        lines = invoice.lines.map { line in
            Line(
                description: line.description, period: Self.period(line.periodStart, line.periodEnd),
                quantity: line.usage.map { $0.quantity.description } ?? String(line.quantity),
                unitPrice: line.unitAmountCents.map(money) ?? "", amount: money(line.amountCents))
        }
        totals = [Total(label: "Subtotal", amount: money(invoice.totals.subtotal))]
        for discount in Self.members(of: invoice.discountsJSON) {
            let code = discount["coupon_code"] ?? ""
            totals.append(
                Total(
                    label: "Discount (\(code))", amount: money(-(discount["amount_cents"].flatMap { Int64($0) } ?? 0))))
        }
        for tax in Self.members(of: invoice.taxesJSON) {
            let name = tax["display_name"] ?? "Tax"
            let rate = tax["percentage"] ?? ""
            let inclusive = tax["inclusive"] == "true" ? ", included" : ""
            totals.append(
                Total(
                    label: "\(name) (\(rate)%\(inclusive))",
                    amount: money(tax["amount_cents"].flatMap { Int64($0) } ?? 0)))
        }
        totals.append(Total(label: "Total", amount: money(invoice.totals.total), emphasized: true))
        if invoice.totals.balanceApplied != 0 {
            totals.append(Total(label: "Applied balance", amount: money(-invoice.totals.balanceApplied)))
        }
        totals.append(Total(label: "Amount due", amount: money(invoice.totals.amountDue), emphasized: asFinalized))
        tables = []
        guard !asFinalized else { return }
        if invoice.amountPaidCents != 0 {
            totals.append(Total(label: "Amount paid", amount: money(-invoice.amountPaidCents)))
        }
        if invoice.creditedCents != 0 { totals.append(Total(label: "Credited", amount: money(-invoice.creditedCents))) }
        totals.append(Total(label: "Amount remaining", amount: money(invoice.amountRemainingCents), emphasized: true))
        if !document.payments.isEmpty {
            tables.append(
                Table(
                    title: "Payments", headings: ["Date", "Reference", "Amount"],
                    rows: document.payments.map { [Self.date($0.paidAt), $0.reference ?? "", money($0.amountCents)] }))
        }
        if !document.creditNotes.isEmpty {
            tables.append(
                Table(
                    title: "Credit notes", headings: ["Number", "Date", "Status", "Amount"],
                    rows: document.creditNotes.map {
                        [$0.number, Self.date($0.createdAt), $0.status.rawValue, money($0.amountCents)]
                    }))
        }
    }

    /// A credit note's sheet, as issued: what it credits of which invoice, and how it was
    /// settled.
    public init(creditNote note: CreditNote, of document: InvoiceDocument, settings: DocumentSettings) {
        let invoice = document.invoice
        let money = { (amount: Int64) in MoneyFormat.format(amount, currency: invoice.currency) }
        title = "Credit note"
        number = note.number
        // As issued, like an invoice's PDF: stored at the first request, a later void is not on it.
        mark = nil
        seller = Self.seller(settings)
        billTo = [document.customerName, document.customerEmail].filter { !$0.isEmpty }
        facts = [
            Fact("Credit note number", note.number), Fact("Date of issue", Self.date(note.createdAt)),
            Fact("Invoice", invoice.number ?? ""),
        ]
        if let reason = note.reason { facts.append(Fact("Reason", reason.rawValue.replacing("_", with: " "))) }
        if let memo = note.memo { facts.append(Fact("Memo", memo)) }
        lines = [
            Line(
                description: "Credit for invoice \(invoice.number ?? "")", period: "", quantity: "1",
                unitPrice: money(note.amountCents), amount: money(note.amountCents))
        ]
        totals = [Total(label: "Total credited", amount: money(note.amountCents), emphasized: true)]
        if note.taxCents != 0 { totals.insert(Total(label: "Of which tax", amount: money(note.taxCents)), at: 0) }
        if note.refundAmountCents != 0 {
            totals.append(Total(label: "Refunded", amount: money(note.refundAmountCents)))
        }
        if note.creditAmountCents != 0 {
            totals.append(Total(label: "Credited to balance", amount: money(note.creditAmountCents)))
        }
        if note.outOfBandAmountCents != 0 {
            totals.append(Total(label: "Settled outside", amount: money(note.outOfBandAmountCents)))
        }
        tables = []
    }

    static func mark(of status: Invoice.Status) -> String? {
        switch status {
        case .paid: "PAID"
        case .void: "VOID"
        case .uncollectible: "UNCOLLECTIBLE"
        case .open, .draft: nil
        }
    }

    static func seller(_ settings: DocumentSettings) -> [String] {
        var lines = [settings.sellerName] + settings.sellerAddress
        if let email = settings.sellerEmail { lines.append(email) }
        if let taxID = settings.sellerTaxID { lines.append("Tax ID \(taxID)") }
        return lines
    }

    /// `2026-11-30`, in UTC.
    static func date(_ time: Timestamp) -> String {
        let civil = time.civil
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(civil.year)-\(two(civil.month))-\(two(civil.day))"
    }

    /// `2026-11-01 – 2026-12-01`; one date when the period is an instant (an item).
    static func period(_ start: Timestamp, _ end: Timestamp) -> String {
        start == end ? date(start) : "\(date(start)) – \(date(end))"
    }

    /// The objects of a stored JSON array, each member's scalar value as text.
    static func members(of json: String) -> [[String: String]] {
        guard case .array(let items)? = try? JSONParser.parse(Array(json.utf8)) else { return [] }
        return items.compactMap { item in
            guard case .object(let members) = item else { return nil }
            var values: [String: String] = [:]
            for member in members {
                switch member.value {
                case .string(let text), .number(let text): values[member.key] = text
                case .bool(let flag): values[member.key] = flag ? "true" : "false"
                default: break
                }
            }
            return values
        }
    }
}
