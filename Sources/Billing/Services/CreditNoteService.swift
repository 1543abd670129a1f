import Common
import Postgres

/// Credit notes (`invoicing.md` §8). A note is checked against the invoice under the
/// invoice's row lock (after its customer's and subscription's: the lock order), so two
/// notes that each fit but not together never both land; its number comes from its own
/// gapless series (global or its customer's, as invoices), taken last.
public enum CreditNoteService {
    public struct Create: Sendable {
        public var invoiceID: ID<Invoice>
        public var amount: Int64
        public var reason: CreditNote.Reason?
        public var memo: String?
        public var refund: Int64?
        public var credit: Int64?
        public var outOfBand: Int64?
        public init(
            invoiceID: ID<Invoice>, amount: Int64, reason: CreditNote.Reason?, memo: String?, refund: Int64?,
            credit: Int64?, outOfBand: Int64?
        ) {
            self.invoiceID = invoiceID
            self.amount = amount
            self.reason = reason
            self.memo = memo
            self.refund = refund
            self.credit = credit
            self.outOfBand = outOfBand
        }
    }

    public static func create(_ input: Create, now: Timestamp, config: BillingConfig, on db: Connection) throws
        -> CreditNote
    {
        let (invoice, owner) = try InvoiceService.lockWithOwner(input.invoiceID, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard [.open, .paid, .uncollectible].contains(invoice.status) else {
            throw BillingError.conflict(
                "a credit note is for an open, paid or uncollectible invoice, not a \(invoice.status.rawValue) one",
                slug: "invoice-not-creditable")
        }
        let available = max(0, invoice.totals.total - invoice.creditedCents)
        guard input.amount >= 1, input.amount <= available else {
            throw BillingError.invalid(
                field: "amount_cents",
                message: "must be from 1 to what is left to credit of the invoice's total, \(available)")
        }
        // The remainder first; the rest is money already paid (all of it on a paid invoice).
        let remainder = invoice.status == .paid ? 0 : min(input.amount, invoice.amountRemainingCents)
        let rest = input.amount - remainder
        let refund = input.refund ?? 0
        let outOfBand = input.outOfBand ?? 0
        let given = refund + (input.credit ?? 0) + outOfBand
        guard given <= rest else {
            throw BillingError.invalid(
                field: "refund_amount_cents",
                message: "refund, credit and out-of-band amounts may be at most \(rest) together (what was paid)")
        }
        // Whatever the given parts leave goes to the balance as credit too.
        let credit = rest - refund - outOfBand
        let tax =
            invoice.totals.total == 0
            ? 0 : roundedShare(of: invoice.totals.tax, times: input.amount, over: invoice.totals.total)
        let madePaid = remainder > 0 && remainder == invoice.amountRemainingCents
        let updated = try Invoice(
            row: try db.query(
                """
                UPDATE invoices SET credited_cents = credited_cents + \(input.amount), \
                amount_remaining_cents = amount_remaining_cents - \(remainder), \
                status = CASE WHEN \(madePaid) THEN 'paid' ELSE status END, \
                paid_at = CASE WHEN \(madePaid) THEN \(now)::timestamptz ELSE paid_at END \
                WHERE id = \(invoice.id) RETURNING \(unsafeSQL: Invoice.columns)
                """)[0])
        if credit > 0 {
            try CustomerService.saveBalances(
                [invoice.customerID: owner.balance - credit], events: &events, now: now, on: db)
        }
        let number = try NumberSeries.next(
            .creditNote, of: invoice.customerID, onClock: owner.testClockID, config.numbering, on: db)
        let note = try CreditNote(
            row: try db.query(
                """
                INSERT INTO credit_notes (id, number, invoice_id, customer_id, status, amount_cents, tax_cents, \
                remainder_amount_cents, refund_amount_cents, credit_amount_cents, out_of_band_amount_cents, \
                made_invoice_paid, reason, memo, created_at) \
                VALUES (\(ID<CreditNote>.generate()), \(number), \(invoice.id), \
                \(invoice.customerID), 'issued', \(input.amount), \(tax), \(remainder), \(refund), \(credit), \
                \(outOfBand), \(madePaid), \(input.reason?.rawValue), \(input.memo), \(now)) \
                RETURNING \(unsafeSQL: CreditNote.columns)
                """)[0])
        // The note, then what it changed: the invoice (and its subscription), then the
        // balance, whose change was stored before the number was taken.
        var ordered = EventLog.Pending()
        ordered.add(.creditNoteCreated, note)
        ordered.add(madePaid ? .invoicePaid : .invoiceUpdated, updated)
        if madePaid, let subscriptionID = invoice.subscriptionID {
            try SubscriptionService.reactivateIfSettled(subscriptionID, events: &ordered, now: now, on: db)
        }
        try ordered.append(at: now, on: db)
        try events.append(at: now, on: db)
        return note
    }

    /// Voids a note, giving back exactly what it took: the invoice's remainder and credited
    /// amount, and the customer's balance. 409 when it refunded anything, made its invoice
    /// paid, is void already, or its invoice has been paid since (its remainder is gone).
    public static func void(_ id: ID<CreditNote>, now: Timestamp, on db: Connection) throws -> CreditNote {
        guard let row = try db.query("SELECT invoice_id FROM credit_notes WHERE id = \(id)").first,
            let invoiceID = row.uuid(0).map(ID<Invoice>.init)
        else { throw BillingError.notFound("no such credit note") }
        let (invoice, owner) = try InvoiceService.lockWithOwner(invoiceID, on: db)
        var events = EventLog.Pending()
        let now = try TestClockService.now(onClock: owner.testClockID, else: now, events: &events, on: db)
        guard
            let locked = try db.query(
                "SELECT \(unsafeSQL: CreditNote.columns) FROM credit_notes WHERE id = \(id) FOR UPDATE"
            ).first
        else { throw BillingError.notFound("no such credit note") }
        let note = try CreditNote(row: locked)
        func refuse(_ why: String) -> BillingError {
            .conflict("the credit note \(why)", slug: "credit-note-not-voidable")
        }
        guard note.status == .issued else { throw refuse("is void already") }
        guard note.refundAmountCents == 0 else { throw refuse("refunded money: it cannot be taken back") }
        guard !note.madeInvoicePaid else { throw refuse("made its invoice paid") }
        guard note.remainderAmountCents == 0 || invoice.status != .paid else {
            throw refuse("reduced a remainder its invoice has since paid")
        }
        let voided = try CreditNote(
            row: try db.query(
                """
                UPDATE credit_notes SET status = 'void', voided_at = \(now) WHERE id = \(id) \
                RETURNING \(unsafeSQL: CreditNote.columns)
                """)[0])
        events.add(.creditNoteVoided, voided)
        let updated = try Invoice(
            row: try db.query(
                """
                UPDATE invoices SET credited_cents = credited_cents - \(note.amountCents), \
                amount_remaining_cents = amount_remaining_cents + \(note.remainderAmountCents) \
                WHERE id = \(invoiceID) RETURNING \(unsafeSQL: Invoice.columns)
                """)[0])
        events.add(.invoiceUpdated, updated)
        if note.creditAmountCents > 0 {
            try CustomerService.saveBalances(
                [invoice.customerID: owner.balance + note.creditAmountCents], events: &events, now: now, on: db)
        }
        try events.append(at: now, on: db)
        return voided
    }

    public static func get(_ id: ID<CreditNote>, on db: Connection) throws -> CreditNote {
        guard
            let row = try db.query("SELECT \(unsafeSQL: CreditNote.columns) FROM credit_notes WHERE id = \(id)").first
        else { throw BillingError.notFound("no such credit note") }
        return try CreditNote(row: row)
    }

    public static func list(
        invoiceID: ID<Invoice>?, customerID: ID<Customer>?, page: PageRequest, on db: Connection
    ) throws -> Page<CreditNote> {
        var query = ListQuery(table: "credit_notes", columns: CreditNote.columns)
        query.filter("invoice_id", invoiceID)
        query.filter("customer_id", customerID)
        return try query.run(on: db, page: page, cursor: { $0.id.description }, decode: CreditNote.init(row:))
    }
}
