/// The API field a CHECK constraint guards, from its name. PostgreSQL names a column's CHECK
/// `<table>_<column>_check`; the domain refuses every limit it knows of first, so this is
/// only for a limit that slipped past it: the 422 still names the field, never "body".
public enum ConstraintField {
    static let tables = [
        "invoice_lines", "invoices", "customers", "subscriptions", "plans", "events", "api_keys", "idempotency_keys",
    ]

    /// `balance_cents` for `customers_balance_cents_check`; nil for a name of another form.
    public static func field(of constraint: String?) -> String? {
        guard let constraint, constraint.hasSuffix("_check") else { return nil }
        for table in tables where constraint.hasPrefix(table + "_") {
            let field = constraint.dropFirst(table.count + 1).dropLast("_check".count)
            return field.isEmpty ? nil : String(field)
        }
        return nil
    }
}
