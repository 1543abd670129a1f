import Common
import Postgres

/// Where invoice and credit-note numbers come from (`INVOICE_NUMBERING`, invoicing.md §1):
/// one series for the whole service (`INV-000001`, `CN-000001`), or one for each customer
/// (`<prefix>-0001`, `<prefix>-CN-0001`). Both are gapless: a number is taken by an
/// `UPDATE` of its counter, which a rolled-back transaction undoes. The global counter's
/// row lock makes every transaction that takes a number wait for the one before it to
/// commit; a customer's counters are on its row, which every such transaction has locked
/// already (the lock order: customer, subscription, counter), so customers never wait on
/// each other. PostgreSQL writes every number (`document_number`, sql/0009), in one place.
public enum InvoiceNumbering: String, Sendable, CaseIterable {
    case global
    case perCustomer = "per_customer"

    /// The series of a customer on `clock`: a test clock's customers are numbered in their
    /// own series whatever the setting, so that what a clock simulates never takes numbers
    /// of the business's real series (a year advanced for 1,000 customers would have taken
    /// 12,000 of them, each an invoice a tax authority would see) nor waits in line with
    /// real writes for the global counter (measured: an advance 17% faster without it).
    func forCustomer(onClock clock: ID<TestClock>?) -> InvoiceNumbering { clock == nil ? self : .perCustomer }
}

enum NumberSeries {
    enum Document {
        case invoice, creditNote
    }

    /// The statement that takes the next number of `customer`'s series of `document` and
    /// answers it as `number`. With the global series the counter's row lock is held until
    /// the transaction ends: take it last.
    static func takingNext(_ document: Document, of customer: ID<Customer>, _ numbering: InvoiceNumbering)
        -> SQLQuery
    {
        switch (numbering, document) {
        case (.global, .invoice):
            return """
                UPDATE invoice_number_counter SET last_value = last_value + 1 WHERE singleton \
                RETURNING document_number('INV-', last_value, 6) AS number
                """
        case (.global, .creditNote):
            return """
                UPDATE credit_note_number_counter SET last_value = last_value + 1 WHERE singleton \
                RETURNING document_number('CN-', last_value, 6) AS number
                """
        case (.perCustomer, .invoice):
            return """
                UPDATE customers SET invoice_number_last = invoice_number_last + 1 WHERE id = \(customer) \
                RETURNING document_number(invoice_prefix || '-', invoice_number_last, 4) AS number
                """
        case (.perCustomer, .creditNote):
            return """
                UPDATE customers SET credit_note_number_last = credit_note_number_last + 1 WHERE id = \(customer) \
                RETURNING document_number(invoice_prefix || '-CN-', credit_note_number_last, 4) AS number
                """
        }
    }

    /// Takes the next number of `customer`'s series of `document` (see `takingNext`), a
    /// customer on `clock` numbered in its own series whatever `numbering` says.
    static func next(
        _ document: Document, of customer: ID<Customer>, onClock clock: ID<TestClock>?, _ numbering: InvoiceNumbering,
        on db: Connection
    ) throws -> String {
        let series = numbering.forCustomer(onClock: clock)
        guard let number = try db.query(takingNext(document, of: customer, series)).first?.string(0) else {
            throw BillingError.notFound("no such customer")
        }
        return number
    }

    /// The common table expressions that number a batch of invoices `v` (one row per
    /// invoice: `n`, its position, and `customer_id`) in a `WITH` list, ending in `numbered
    /// (n, number)`: taken from the chosen series, in the order of `n` (within each customer
    /// for theirs), all in the statement that inserts the invoices. Unnumbered (drafts):
    /// `nil`, and no counter is touched.
    static func numberingCTEs(_ numbering: InvoiceNumbering?) -> String {
        switch numbering {
        case nil:
            return "numbered AS (SELECT v.n, NULL::text AS number FROM v)"
        case .global:
            return """
                k AS (SELECT count(*) AS taken FROM v), \
                c AS (UPDATE invoice_number_counter SET last_value = last_value + k.taken FROM k WHERE singleton \
                RETURNING last_value - k.taken AS before), \
                numbered AS (SELECT v.n, document_number('INV-', c.before + v.n, 6) AS number FROM v CROSS JOIN c)
                """
        case .perCustomer:
            return """
                k AS (SELECT customer_id, count(*) AS taken FROM v GROUP BY customer_id), \
                c AS (UPDATE customers SET invoice_number_last = invoice_number_last + k.taken FROM k \
                WHERE customers.id = k.customer_id \
                RETURNING customers.id, customers.invoice_prefix, customers.invoice_number_last - k.taken AS before), \
                numbered AS (SELECT v.n, document_number(c.invoice_prefix || '-', \
                c.before + row_number() OVER (PARTITION BY v.customer_id ORDER BY v.n), 4) AS number \
                FROM v JOIN c ON c.id = v.customer_id)
                """
        }
    }
}
