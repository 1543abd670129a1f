import Common
import Postgres

/// `GET /subscriptions/{id}/upcoming-invoice` (`invoicing.md` §9): the invoice the next
/// billing run would make for a subscription, priced by the same code, read without a lock
/// and stored nowhere.
extension SubscriptionService {
    static let noUpcomingInvoice = BillingError.conflict(
        "the subscription will not be invoiced again", slug: "no-upcoming-invoice")

    public static func upcomingInvoice(
        _ id: ID<Subscription>, now: Timestamp, config: BillingConfig, on db: Connection
    ) throws -> Invoice {
        let rows = try db.query(
            "SELECT \(unsafeSQL: Due.columns) FROM \(unsafeSQL: Due.tables) WHERE s.id = \(id)")
        guard let row = rows.first else { throw BillingError.notFound("no such subscription") }
        var due = try Due(row: row)
        // Usage so far is on the current plan's charges, whatever the next period is on.
        let usage = try UsageBilling.linesOfCurrentWindow(due.subscription, on: db)
        // A change scheduled at the period end is what the next invoice is made on.
        _ = due.applyPendingUpdate(asOf: due.subscription.currentPeriodEnd)
        let subscription = due.subscription
        guard subscription.status != .canceled, !subscription.cancelAtPeriodEnd else { throw noUpcomingInvoice }
        // The earliest period not invoiced yet starts where the current one ends (after a
        // trial, the first paid period), however long ago that was.
        let renewal = Renewal(
            status: subscription.status, anchor: subscription.billingCycleAnchor, interval: due.interval,
            zone: subscription.zone,
            trialEnd: subscription.trialEnd, currentPeriodStart: subscription.currentPeriodStart,
            currentPeriodEnd: subscription.currentPeriodEnd, cancelAtPeriodEnd: false,
            asOf: subscription.currentPeriodEnd, maximumPeriods: 1)
        guard let period = renewal.invoices.first else { throw noUpcomingInvoice }
        let customer = try CustomerService.get(subscription.customerID, on: db)
        let now = try TestClockService.time(onClock: customer.testClockID, else: now, on: db)
        let pending = try db.query(
            """
            SELECT \(unsafeSQL: InvoiceItem.columns) FROM invoice_items WHERE customer_id = \(customer.id) \
            AND invoice_id IS NULL AND currency = \(due.currency) ORDER BY seq
            """
        ).rows.map(InvoiceItem.init(row:))
        let lines =
            [
                subscription.schedule(due.interval).line(
                    for: period, planName: due.planName, unitAmount: due.amount, quantity: subscription.quantity)
            ] + usage + pending.map(Pricing.itemLine)
        let rates = try TaxRateService.terms(ofRates: due.rateIDs, on: db)
        let coupons = try CouponService.coupons(subscription.discount.map { [$0.couponID] } ?? [], on: db)
        let discount = subscription.discount(for: period.start, coupons: coupons)
        var invoice = Invoice(
            id: nil, customerID: customer.id, subscriptionID: id, billingReason: .subscriptionCycle, status: .draft,
            currency: due.currency,
            totals: try Pricing.totals(
                of: lines, discount: discount?.terms, rates: rates, balance: customer.balanceCents),
            periodStart: period.start, periodEnd: period.end, dueAt: nil, createdAt: now,
            lines: lines.map { InvoiceLine(id: nil, $0) })
        invoice.daysUntilDue = config.invoiceDueDays
        invoice.discount = discount.map {
            AppliedDiscount(couponID: $0.coupon.id, couponCode: $0.coupon.code, amount: invoice.totals.discount)
        }
        return invoice
    }
}
