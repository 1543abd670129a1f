import Testing

@testable import Billing

/// The sheet as the PDF renderer process receives it: every field back as it was sent, and
/// anything cut short or altered refused rather than rendered half.
@Suite struct DocumentSheetWireTests {
    static let sheet = DocumentSheet(
        title: "Invoice", number: "ZOE12345-0007", mark: "PAID", seller: ["Acme SAS", "1 rue de la Paix", ""],
        billTo: ["Zoë Åström 王小明", "<script>alert(1)</script>"],
        facts: [.init("Date of issue", "2026-11-30"), .init("Description", "%PDF-1.7 \u{0}")],
        lines: [
            .init(
                description: "Pro plan", period: "Nov 1 – Dec 1", quantity: "3", unitPrice: "€25.00", amount: "€75.00")
        ],
        totals: [
            .init(label: "Subtotal", amount: "€75.00"), .init(label: "Total", amount: "€75.00", emphasized: true),
        ],
        tables: [.init(title: "Payments", headings: ["Date", "Amount"], rows: [["2026-11-30", "€75.00"], []])])

    @Test func aSheetComesBackWhole() throws {
        let bytes = Self.sheet.wireBytes(createdAt: "2026-11-30T12:00:00Z")
        let decoded = try #require(DocumentSheet.fromWire(bytes))
        #expect(decoded.sheet == Self.sheet)
        #expect(decoded.createdAt == "2026-11-30T12:00:00Z")
    }

    @Test func anEmptySheetAndNoMarkComeBackToo() throws {
        let empty = DocumentSheet(
            title: "", number: "", mark: nil, seller: [], billTo: [], facts: [], lines: [], totals: [], tables: [])
        #expect(try #require(DocumentSheet.fromWire(empty.wireBytes(createdAt: ""))).sheet == empty)
    }

    @Test func everyShortenedOrLengthenedMessageIsRefused() {
        let bytes = Self.sheet.wireBytes(createdAt: "2026-11-30T12:00:00Z")
        for length in 0..<bytes.count { #expect(DocumentSheet.fromWire(Array(bytes[..<length])) == nil) }
        #expect(DocumentSheet.fromWire(bytes + [0]) == nil)
    }

    @Test func aCountLargerThanTheMessageIsRefusedWithoutAllocatingIt() {
        // createdAt "", then a title claiming 4 GiB.
        #expect(DocumentSheet.fromWire([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
    }
}
