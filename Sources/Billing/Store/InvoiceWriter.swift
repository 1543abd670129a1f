import Common
import Postgres

/// Writes new invoices in the caller's transaction, any number in a fixed number of
/// statements: each takes its customer's pending invoice items, is priced (`Pricing`),
/// finalized with the customers' balances applied and the next gapless numbers, and its
/// events are added to the transaction's. A subscription start writes one; a billing-run
/// batch writes hundreds. A one-off draft is written here too, without a number.
enum InvoiceWriter {
    struct Draft {
        var subscriptionID: ID<Subscription>?
        var customerID: ID<Customer>
        var reason: BillingReason
        var currency: String
        var periodStart: Timestamp
        var periodEnd: Timestamp
        var lines: [PricedLine]
        /// The rates it is taxed with (its subscription's, else its customer's).
        var rates: [TaxTerms] = []
        /// Its subscription's discount, when §5 applies it to this invoice.
        var discount: (coupon: Coupon, terms: DiscountTerms)? = nil
        var description: String? = nil
        var daysUntilDue: Int? = nil
        /// Whether the invoice takes its customer's pending items (`include_pending_items`).
        var takesPendingItems = true
        /// When the billing run finalizes it (a draft that bills usage).
        var finalizesAt: Timestamp? = nil
    }

    /// Writes finalized invoices. `balances` holds the balance of every customer of
    /// `drafts`, read under a row lock by the caller; it is updated in place and the caller
    /// stores the changed ones.
    static func write(
        _ drafts: [Draft], balances: inout [ID<Customer>: Int64], events: inout EventLog.Pending, now: Timestamp,
        config: BillingConfig, on db: Connection
    ) throws -> [Invoice] {
        guard !drafts.isEmpty else { return [] }
        var (invoices, items) = try priced(drafts, now: now, on: db)
        for index in invoices.indices {
            let customer = invoices[index].customerID
            let balance = balances[customer] ?? 0
            let discount = drafts[index].discount
            invoices[index].totals = try Pricing.totals(
                of: invoices[index].lines.map(\.priced), discount: discount?.terms, rates: drafts[index].rates,
                balance: balance)
            invoices[index].discount = discount.map {
                AppliedDiscount(
                    couponID: $0.coupon.id, couponCode: $0.coupon.code, amount: invoices[index].totals.discount)
            }
            balances[customer] = invoices[index].totals.newBalance
            invoices[index].dueAt = invoices[index].periodStart.adding(seconds: Int64(config.invoiceDueDays) * 86_400)
            invoices[index].daysUntilDue = config.invoiceDueDays
            invoices[index].finalize(at: now)
        }
        // Everything above, the statements, the events known so far and the lines (their
        // invoices are checked at commit, see sql/0004) are done before the numbers are
        // taken: with the global series, that lock serializes every transaction that makes
        // invoices until it commits (the price of one gapless series: a rolled-back
        // transaction gives its numbers back), so only one statement runs while it is held
        // before the commit: it takes the numbers, inserts the invoices and their events
        // with them (measured: the billing run from 0.27 to 0.28–0.31 of its ceiling,
        // against a statement for each). A customer's own series locks nothing new.
        var invoiceEvents = EventLog.Pending(testClockID: events.testClockID)
        for invoice in invoices {
            invoiceEvents.add(
                invoice.status == .paid
                    ? [.invoiceCreated, .invoiceFinalized, .invoicePaid] : [.invoiceCreated, .invoiceFinalized],
                invoice)
        }
        let statements = Inserts(invoices)
        let numbered = statements.insert(numbering: config.numbering, events: invoiceEvents, at: now)
        try events.flush(at: now, on: db)
        try db.query(statements.lines)
        let numbers = try db.query(numbered).rows.map { $0.string(0) }
        guard numbers.count == invoices.count else { throw BillingError.notFound("no such customer") }
        for index in invoices.indices { invoices[index].number = numbers[index] }
        events.add(.invoiceItemUpdated, each: items)
        return invoices
    }

    /// Writes one draft, unnumbered, with the pending items it takes.
    static func writeDraft(_ draft: Draft, events: inout EventLog.Pending, now: Timestamp, on db: Connection) throws
        -> Invoice
    {
        try writeDrafts([draft], events: &events, now: now, on: db)[0]
    }

    /// Writes drafts, unnumbered, each with the pending items it takes, in a fixed number of
    /// statements however many.
    static func writeDrafts(_ drafts: [Draft], events: inout EventLog.Pending, now: Timestamp, on db: Connection)
        throws -> [Invoice]
    {
        guard !drafts.isEmpty else { return [] }
        var (invoices, items) = try priced(drafts, now: now, on: db)
        for index in invoices.indices {
            invoices[index].totals = try Pricing.totals(of: invoices[index].lines.map(\.priced), balance: 0)
            invoices[index].amountRemainingCents = invoices[index].totals.amountDue
        }
        let statements = Inserts(invoices)
        if invoices.contains(where: { !$0.lines.isEmpty }) { try db.query(statements.lines) }
        try db.query(statements.insert(numbering: nil, events: EventLog.Pending(), at: now))
        events.add(.invoiceCreated, each: invoices)
        events.add(.invoiceItemUpdated, each: items)
        return invoices
    }

    /// Stores the totals of drafts whose lines changed, priced as a draft's are stored: from
    /// its lines, with no balance (a draft's shown totals are priced again at each read).
    /// Returns the drafts with those totals.
    static func storeDraftTotals(_ drafts: [Invoice], on db: Connection) throws -> [Invoice] {
        guard !drafts.isEmpty else { return drafts }
        var priced = drafts
        for index in priced.indices {
            priced[index].totals = try Pricing.totals(of: priced[index].lines.map(\.priced), balance: 0)
            priced[index].amountRemainingCents = priced[index].totals.amountDue
        }
        try db.query(
            """
            UPDATE invoices i SET subtotal_cents = v.subtotal, total_cents = v.total, \
            balance_applied_cents = v.applied, amount_cents = v.due, amount_remaining_cents = v.due \
            FROM unnest(\(SQLArray(priced) { $0.id })::uuid[], \(SQLArray(priced) { $0.totals.subtotal })::bigint[], \
            \(SQLArray(priced) { $0.totals.total })::bigint[], \(SQLArray(priced) { $0.totals.balanceApplied })::bigint[], \
            \(SQLArray(priced) { $0.totals.amountDue })::bigint[]) AS v(id, subtotal, total, applied, due) WHERE i.id = v.id
            """)
        return priced
    }

    /// Finalizes drafts priced and finalized in memory (`Invoice.finalize`): one statement
    /// numbers them from `numbering`'s series (their own for customers on a test clock),
    /// stores their totals and states, and appends their `invoice.finalized` (and
    /// `invoice.paid`) events with their numbers put in.
    static func finalizeDrafts(
        _ drafts: [Invoice], numbering: InvoiceNumbering, now: Timestamp, testClockID: ID<TestClock>?,
        on db: Connection
    ) throws -> [Invoice] {
        guard !drafts.isEmpty else { return [] }
        var events = EventLog.Pending(testClockID: testClockID)
        for invoice in drafts {
            events.add(invoice.status == .paid ? [.invoiceFinalized, .invoicePaid] : [.invoiceFinalized], invoice)
        }
        let rows = events.rows
        let numbers = try db.query(
            """
            WITH v AS (SELECT * FROM unnest(\(SQLArray(drafts) { $0.id })::uuid[], \
            \(SQLArray(drafts) { $0.customerID })::uuid[], \(SQLArray(drafts) { $0.status.rawValue })::text[], \
            \(SQLArray(drafts) { $0.daysUntilDue })::int[], \(SQLArray(drafts) { $0.totals.subtotal })::bigint[], \
            \(SQLArray(drafts) { $0.totals.discount })::bigint[], \(SQLArray(drafts) { $0.discountsJSON })::text[], \
            \(SQLArray(drafts) { $0.totals.tax })::bigint[], \(SQLArray(drafts) { $0.taxesJSON })::text[], \
            \(SQLArray(drafts) { $0.totals.total })::bigint[], \(SQLArray(drafts) { $0.totals.balanceApplied })::bigint[], \
            \(SQLArray(drafts) { $0.totals.amountDue })::bigint[], \(SQLArray(drafts) { $0.amountRemainingCents })::bigint[], \
            \(SQLArray(drafts) { $0.dueAt })::timestamptz[], \(SQLArray(drafts) { $0.paidAt })::timestamptz[]) \
            WITH ORDINALITY AS v(id, customer_id, status, days_until_due, subtotal_cents, discount_cents, discounts, \
            tax_cents, taxes, total_cents, balance_applied_cents, amount_cents, amount_remaining_cents, due_at, paid_at, n)), \
            \(unsafeSQL: NumberSeries.numberingCTEs(numbering.forCustomer(onClock: testClockID))), \
            u AS (UPDATE invoices i SET number = numbered.number, status = v.status, days_until_due = v.days_until_due, \
            subtotal_cents = v.subtotal_cents, discount_cents = v.discount_cents, discounts = v.discounts, \
            tax_cents = v.tax_cents, taxes = v.taxes, total_cents = v.total_cents, \
            balance_applied_cents = v.balance_applied_cents, amount_cents = v.amount_cents, \
            amount_remaining_cents = v.amount_remaining_cents, due_at = v.due_at, finalized_at = \(now), \
            paid_at = v.paid_at FROM v JOIN numbered ON numbered.n = v.n WHERE i.id = v.id RETURNING i.id), \
            \(query: Inserts.eventsCTE(ids: rows.ids, kinds: rows.kinds, bodyOf: rows.bodyOf, bodies: rows.bodies, testClockID: testClockID, at: now)) \
            SELECT number FROM numbered ORDER BY n
            """
        ).rows.map { $0.string(0) }
        var finalized = drafts
        for index in finalized.indices { finalized[index].number = numbers[index] }
        return finalized
    }

    /// The invoices of `drafts` with ids, lines and the pending items they take (each
    /// customer's first invoice here takes all of that customer's, in its currency): the
    /// UPDATE that takes them waits for any other transaction taking them and then skips
    /// them, so two invoices made at once never both take an item.
    private static func priced(_ drafts: [Draft], now: Timestamp, on db: Connection) throws -> (
        [Invoice], [InvoiceItem]
    ) {
        let ids = ID<Invoice>.generate(count: drafts.count)
        var takers: [(customer: ID<Customer>, invoice: ID<Invoice>, currency: String)] = []
        var seen: Set<ID<Customer>> = []
        for (draft, id) in zip(drafts, ids) where draft.takesPendingItems && seen.insert(draft.customerID).inserted {
            takers.append((draft.customerID, id, draft.currency))
        }
        var itemsByInvoice: [ID<Invoice>: [InvoiceItem]] = [:]
        var items: [InvoiceItem] = []
        if !takers.isEmpty {
            items = try db.query(
                """
                UPDATE invoice_items i SET invoice_id = t.invoice_id, updated_at = \(now) \
                FROM unnest(\(SQLArray(takers) { $0.customer })::uuid[], \(SQLArray(takers) { $0.invoice })::uuid[], \
                \(SQLArray(takers) { $0.currency })::text[]) AS t(customer_id, invoice_id, currency) \
                WHERE i.customer_id = t.customer_id AND i.invoice_id IS NULL AND i.currency = t.currency \
                RETURNING \(unsafeSQL: qualified(InvoiceItem.columns, with: "i")), i.seq
                """
            ).rows.map { row in
                var r = RowReader(row)
                return (item: try InvoiceItem(&r), seq: try r.int64())
            }.sorted { $0.seq < $1.seq }.map(\.item)
            for item in items { itemsByInvoice[item.invoiceID ?? ids[0], default: []].append(item) }
        }
        let lineCount = drafts.reduce(items.count) { $0 + $1.lines.count }
        var lineIDs = ID<InvoiceLine>.generate(count: lineCount).makeIterator()
        let invoices = zip(drafts, ids).map { draft, id in
            let lines = draft.lines + (itemsByInvoice[id] ?? []).map(Pricing.itemLine)
            var invoice = Invoice(
                id: id, customerID: draft.customerID, subscriptionID: draft.subscriptionID,
                billingReason: draft.reason, status: .draft, currency: draft.currency,
                totals: InvoiceTotals(subtotal: 0, balance: 0), periodStart: draft.periodStart,
                periodEnd: draft.periodEnd, dueAt: nil, createdAt: now,
                lines: lines.map { InvoiceLine(id: lineIDs.next(), $0) })
            invoice.description = draft.description
            invoice.daysUntilDue = draft.daysUntilDue
            invoice.finalizesAt = draft.finalizesAt
            return invoice
        }
        return (invoices, items)
    }

    /// The INSERT statements of new invoices and their lines, built before their numbers
    /// are known.
    private struct Inserts {
        let invoices: [Invoice]
        let lines: SQLQuery

        init(_ invoices: [Invoice]) {
            self.invoices = invoices
            let lines = invoices.flatMap { invoice in
                invoice.lines.enumerated().map { (invoice: invoice.id, position: $0.offset, line: $0.element) }
            }
            self.lines = InvoiceWriter.insertLines(lines)
        }

        /// The columns an insert writes; the last, `test_clock_id`, is read from the
        /// customer in the statement itself (sql/0023).
        static let columns = """
            id, number, customer_id, subscription_id, billing_reason, status, currency, description, days_until_due, \
            subtotal_cents, discount_cents, discounts, tax_cents, taxes, total_cents, balance_applied_cents, \
            amount_cents, amount_remaining_cents, period_start, period_end, due_at, finalized_at, created_at, paid_at, \
            finalizes_at, hosted_token, test_clock_id
            """

        /// Inserts the invoices, numbered from `numbering`'s series in this statement, or not
        /// at all (drafts: `nil`), and answers their numbers in order.
        ///
        /// `events`, one body per invoice in the same order, rendered with `"number":null`,
        /// are appended in the same statement with each invoice's number put in its body:
        /// the pattern can only be that key (a quote inside a JSON string is escaped), and an
        /// invoice's lines have no `number`.
        func insert(numbering: InvoiceNumbering?, events: EventLog.Pending, at time: Timestamp) -> SQLQuery {
            // A customer on a test clock (its events carry the clock) has its own series.
            let numbering = numbering?.forCustomer(onClock: events.testClockID)
            return invoices.count == 1
                ? insertOne(numbering: numbering, events: events, at: time)
                : insertBatch(numbering: numbering, events: events.rows, testClockID: events.testClockID, at: time)
        }

        /// One invoice (a subscription's start or change, a finalization): one value per
        /// parameter, which PostgreSQL plans once per connection. The batch statement's arrays
        /// of one element made it plan that statement again at every call (its generic plan,
        /// estimated for arrays of unknown length, always looked dearer): 0.33 ms of 2.2 ms of
        /// PostgreSQL's time in a `POST /subscriptions`.
        private func insertOne(numbering: InvoiceNumbering?, events: EventLog.Pending, at time: Timestamp)
            -> SQLQuery
        {
            let invoice = invoices[0]
            var query: SQLQuery = "WITH numbered AS ("
            query.append(
                numbering.map { NumberSeries.takingNext(.invoice, of: invoice.customerID, $0) }
                    ?? "SELECT NULL::text AS number")
            let (ids, kinds, body) = events.rowsOfOneBody
            query.append(
                """
                ), i AS (INSERT INTO invoices (\(unsafeSQL: Self.columns)) \
                SELECT \(invoice.id)::uuid, numbered.number, \(invoice.customerID)::uuid, \(invoice.subscriptionID)::uuid, \
                \(invoice.billingReason.rawValue), \(invoice.status.rawValue), \(invoice.currency), \(invoice.description), \
                \(invoice.daysUntilDue)::int, \(invoice.totals.subtotal)::bigint, \(invoice.totals.discount)::bigint, \
                \(invoice.discountsJSON), \(invoice.totals.tax)::bigint, \(invoice.taxesJSON), \(invoice.totals.total)::bigint, \
                \(invoice.totals.balanceApplied)::bigint, \(invoice.totals.amountDue)::bigint, \
                \(invoice.amountRemainingCents)::bigint, \(invoice.periodStart)::timestamptz, \
                \(invoice.periodEnd)::timestamptz, \(invoice.dueAt)::timestamptz, \(invoice.finalizedAt)::timestamptz, \
                \(invoice.createdAt)::timestamptz, \(invoice.paidAt)::timestamptz, \(invoice.finalizesAt)::timestamptz, \
                \(invoice.hostedToken), \
                (SELECT test_clock_id FROM customers WHERE id = \(invoice.customerID)) FROM numbered), \
                e AS (INSERT INTO events (id, type, created_at, test_clock_id, data) \
                SELECT e.id, e.type, \(time), \(events.testClockID)::uuid, replace(\(body), '"number":null', '"number":"' || numbered.number || '"') \
                FROM unnest(\(ids)::uuid[], \(kinds)::text[]) WITH ORDINALITY AS e(id, type, n) CROSS JOIN numbered \
                ORDER BY e.n) \
                SELECT number FROM numbered
                """)
            return query
        }

        /// Any number of invoices (a billing-run batch), each column an array: see
        /// `NumberSeries.numberingCTEs`.
        private func insertBatch(
            numbering: InvoiceNumbering?, events: (ids: SQLArray, kinds: SQLArray, bodyOf: SQLArray, bodies: String),
            testClockID: ID<TestClock>?, at time: Timestamp
        ) -> SQLQuery {
            let invoices = self.invoices
            return """
                WITH v AS (SELECT * FROM unnest(\(SQLArray(invoices) { $0.id })::uuid[], \
                \(SQLArray(invoices) { $0.customerID })::uuid[], \(SQLArray(invoices) { $0.subscriptionID })::uuid[], \
                \(SQLArray(invoices) { $0.billingReason.rawValue })::text[], \(SQLArray(invoices) { $0.status.rawValue })::text[], \
                \(SQLArray(invoices) { $0.currency })::text[], \(SQLArray(invoices) { $0.description })::text[], \
                \(SQLArray(invoices) { $0.daysUntilDue })::int[], \(SQLArray(invoices) { $0.totals.subtotal })::bigint[], \
                \(SQLArray(invoices) { $0.totals.discount })::bigint[], \(SQLArray(invoices) { $0.discountsJSON })::text[], \
                \(SQLArray(invoices) { $0.totals.tax })::bigint[], \(SQLArray(invoices) { $0.taxesJSON })::text[], \
                \(SQLArray(invoices) { $0.totals.total })::bigint[], \(SQLArray(invoices) { $0.totals.balanceApplied })::bigint[], \
                \(SQLArray(invoices) { $0.totals.amountDue })::bigint[], \(SQLArray(invoices) { $0.amountRemainingCents })::bigint[], \
                \(SQLArray(invoices) { $0.periodStart })::timestamptz[], \(SQLArray(invoices) { $0.periodEnd })::timestamptz[], \
                \(SQLArray(invoices) { $0.dueAt })::timestamptz[], \(SQLArray(invoices) { $0.finalizedAt })::timestamptz[], \
                \(SQLArray(invoices) { $0.createdAt })::timestamptz[], \(SQLArray(invoices) { $0.paidAt })::timestamptz[], \
                \(SQLArray(invoices) { $0.finalizesAt })::timestamptz[], \(SQLArray(invoices) { $0.hostedToken })::text[]) \
                WITH ORDINALITY AS v(id, customer_id, subscription_id, billing_reason, \
                status, currency, description, days_until_due, subtotal_cents, discount_cents, discounts, tax_cents, \
                taxes, total_cents, balance_applied_cents, amount_cents, amount_remaining_cents, period_start, \
                period_end, due_at, finalized_at, created_at, paid_at, finalizes_at, hosted_token, n)), \
                \(unsafeSQL: NumberSeries.numberingCTEs(numbering)), \
                i AS (INSERT INTO invoices (\(unsafeSQL: Self.columns)) \
                SELECT v.id, numbered.number, v.customer_id, v.subscription_id, v.billing_reason, v.status, v.currency, \
                v.description, v.days_until_due, v.subtotal_cents, v.discount_cents, v.discounts, v.tax_cents, v.taxes, \
                v.total_cents, v.balance_applied_cents, v.amount_cents, v.amount_remaining_cents, v.period_start, \
                v.period_end, v.due_at, v.finalized_at, v.created_at, v.paid_at, v.finalizes_at, v.hosted_token, \
                (SELECT test_clock_id FROM customers c WHERE c.id = v.customer_id) FROM v JOIN numbered ON numbered.n = v.n), \
                \(query: Self.eventsCTE(ids: events.ids, kinds: events.kinds, bodyOf: events.bodyOf, bodies: events.bodies, testClockID: testClockID, at: time)) \
                SELECT number FROM numbered ORDER BY n
                """
        }

        /// `e`, inserting the events of a batch of invoices, the body of the `n`th invoice
        /// with the number `numbered` gives it put in.
        static func eventsCTE(
            ids: SQLArray, kinds: SQLArray, bodyOf: SQLArray, bodies: String, testClockID: ID<TestClock>?,
            at time: Timestamp
        ) -> SQLQuery {
            """
            e AS (INSERT INTO events (id, type, created_at, test_clock_id, data) \
            SELECT e.id, e.type, \(time), \(testClockID)::uuid, replace(b.data::text, '"number":null', '"number":"' || numbered.number || '"') \
            FROM ROWS FROM (unnest(\(ids)::uuid[]), unnest(\(kinds)::text[]), \
            unnest(\(bodyOf)::int[])) WITH ORDINALITY AS e(id, type, body, n) \
            JOIN json_array_elements(\(bodies)::json) WITH ORDINALITY AS b(data, i) ON b.i = e.body \
            JOIN numbered ON numbered.n = e.body ORDER BY e.n)
            """
        }
    }

    /// One INSERT of any number of lines, each at its position on its invoice.
    static func insertLines(_ lines: [(invoice: ID<Invoice>?, position: Int, line: InvoiceLine)]) -> SQLQuery {
        """
        INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, quantity, \
        unit_amount_cents, invoice_item_id, period_start, period_end, meter_id, usage_quantity) \
        SELECT * FROM unnest(\(SQLArray(lines) { $0.line.id })::uuid[], \(SQLArray(lines) { $0.invoice })::uuid[], \
        \(SQLArray(lines) { $0.position })::int[], \(SQLArray(lines) { $0.line.kind.rawValue })::text[], \
        \(SQLArray(lines) { $0.line.description })::text[], \(SQLArray(lines) { $0.line.amountCents })::bigint[], \
        \(SQLArray(lines) { $0.line.quantity })::int[], \(SQLArray(lines) { $0.line.unitAmountCents })::bigint[], \
        \(SQLArray(lines) { $0.line.invoiceItemID })::uuid[], \(SQLArray(lines) { $0.line.periodStart })::timestamptz[], \
        \(SQLArray(lines) { $0.line.periodEnd })::timestamptz[], \(SQLArray(lines) { $0.line.usage?.meterID })::uuid[], \
        \(SQLArray(lines) { $0.line.usage?.quantity.description })::numeric[])
        """
    }
}
