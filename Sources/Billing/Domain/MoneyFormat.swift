/// An amount of minor units written for people, by its currency's minor unit
/// (documents.md): JPY 1500 → `¥1,500`, EUR 2500 → `€25.00`, KWD 1500 → `KWD 1.500`.
/// Digits are grouped by threes with commas and the decimal mark is a point, in every
/// currency: one spelling for every reader of one document. Exact: integer digits only.
public enum MoneyFormat {
    /// Currencies whose symbol is unambiguous on an invoice; every other one is its code.
    static let symbols: [String: String] = [
        "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪", "NGN": "₦",
        "UAH": "₴", "VND": "₫", "PHP": "₱", "THB": "฿",
    ]

    public static func format(_ minorUnits: Int64, currency code: String) -> String {
        let digits = Currency(code: code.uppercased())?.minorUnitDigits ?? 2
        let magnitude = String(minorUnits.magnitude)
        let padded = String(repeating: "0", count: max(0, digits + 1 - magnitude.count)) + magnitude
        let whole = padded.dropLast(digits)
        let fraction = padded.suffix(digits)
        var grouped = ""
        for (offset, character) in whole.enumerated() {
            if offset > 0 && (whole.count - offset) % 3 == 0 { grouped.append(",") }
            grouped.append(character)
        }
        let number = digits == 0 ? grouped : grouped + "." + fraction
        let sign = minorUnits < 0 ? "-" : ""
        if let symbol = symbols[code.uppercased()] { return sign + symbol + number }
        return sign + code.uppercased() + " " + number
    }
}
