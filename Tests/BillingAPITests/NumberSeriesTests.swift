import Billing
import Common
import Foundation
import Postgres
import Testing

extension InProcessAPI {
    /// `invoicing.md` §1 "Number series", in process against PostgreSQL: what the pool's
    /// tests cannot stop halfway, a transaction rolled back after it took its numbers, and a
    /// prefix drawn twice.
    @Suite struct NumberSeriesTests {
        let api: APIHarness
        init() throws { api = try APIHarness() }

        /// A draft of `amount` for a new customer; answers the customer, its prefix and the draft.
        private func draft(amount: Int = 700) throws -> (customer: String, prefix: String, invoice: ID<Invoice>) {
            let customer = try api.customer()
            let prefix = try #require(api.get("/customers/\(customer)")["invoice_prefix"].string)
            let draft = api.post("/invoices", #"{"customer_id": "\#(customer)", "currency": "EUR"}"#)
            let id = try #require(draft["id"].string)
            let item = api.post(
                "/invoice-items",
                #"{"customer_id": "\#(customer)", "invoice_id": "\#(id)", "description": "Seat", "amount_cents": \#(amount)}"#
            )
            try #require(item.status == 201, "\(item.text)")
            return (customer, prefix, try #require(ID<Invoice>(parsing: id)))
        }

        @Test(arguments: InvoiceNumbering.allCases)
        func aRolledBackFinalizationAndCreditNoteGiveTheirNumbersBack(_ numbering: InvoiceNumbering) throws {
            let db = try api.context.database()
            let config = BillingConfig(numbering: numbering)
            let (_, prefix, invoice) = try draft()
            func finalizeAndCredit() throws -> (String?, String) {
                let finalized = try InvoiceService.finalize(invoice, now: .now(), config: config, on: db)
                let note = try CreditNoteService.create(
                    .init(
                        invoiceID: invoice, amount: 100, reason: nil, memo: nil, refund: nil, credit: nil,
                        outOfBand: nil), now: .now(), config: config, on: db)
                return (finalized.number, note.number)
            }
            try db.query("BEGIN")
            let rolledBack = try finalizeAndCredit()
            try db.query("ROLLBACK")
            try db.query("BEGIN")
            let kept = try finalizeAndCredit()
            try db.query("COMMIT")
            #expect(kept == rolledBack)
            if numbering == .perCustomer {
                #expect(kept.0 == "\(prefix)-0001" && kept.1 == "\(prefix)-CN-0001")
            } else {
                #expect(kept.0?.hasPrefix("INV-") == true && kept.1.hasPrefix("CN-"))
            }
        }

        @Test func aPrefixTakenMeanwhileIsDrawnAgain() throws {
            let db = try api.context.database()
            let taken = try #require(api.get("/customers/\(try api.customer())")["invoice_prefix"].string)
            let fresh = Customer.randomInvoicePrefix()
            var drawn = [taken, taken, fresh]
            let input = CustomerService.Create(
                email: "draw-\(UUID().uuidString)@example.com", name: "Drawn", metadata: [])
            try db.query("BEGIN")
            let customer = try CustomerService.create(input, now: .now(), on: db) { drawn.removeFirst() }
            try db.query("COMMIT")
            #expect(customer.invoicePrefix == fresh && drawn.isEmpty)

            let unlucky = CustomerService.Create(
                email: "unlucky-\(UUID().uuidString)@example.com", name: "U", metadata: [])
            #expect(throws: BillingError.self) { try CustomerService.create(unlucky, now: .now(), on: db) { taken } }
        }

        @Test func aRandomPrefixIsEightOfZeroToNineAndAToZ() {
            let prefixes = (0..<1000).map { _ in Customer.randomInvoicePrefix() }
            let allowed = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
            #expect(prefixes.allSatisfy { $0.count == 8 && $0.allSatisfy(allowed.contains) })
            // Every character of the alphabet turns up among 8,000 draws (each is missed with
            // a probability of (35/36)^8000, about 10^-98).
            #expect(Set(prefixes.joined()) == allowed)
        }
    }
}
