/// A business-rule failure the client can act on. The API layer maps each case to one
/// problem+json status; nothing here knows HTTP.
public enum BillingError: Error, Equatable, Sendable {
    /// The named resource does not exist (404).
    case notFound(String)
    /// The request conflicts with the current state (409); `slug` names the rule.
    case conflict(String, slug: String = "conflict")
    /// A value is valid on its own but not in this context (422), e.g. another currency.
    case invalid(field: String, message: String)
}
