import Common
import Testing

@testable import Billing

/// sql/0026: a delivery's id carries its endpoint's seq and its event's seq. The ids below
/// were made by `webhook_delivery_id` in PostgreSQL.
@Suite struct WebhookDeliveryKeyTests {
    private func key(_ text: String) -> WebhookDeliveryKey? {
        WebhookDeliveryKey(ID<WebhookDelivery>(parsing: text)!)
    }

    @Test func anIdMadeByTheFanOutGivesItsKeyBack() {
        let cases: [(String, Int64, Int64)] = [
            ("01a23150-f5b1-7000-8000-100000000001", 1, 1),
            ("01a23150-f5b1-7001-8000-000000000005", 262_144, 5),
            ("01a23150-f5b1-7000-bfff-f00000000000", 262_143, 0),
            ("01a23150-f5b1-7fff-bfff-ffffffffffff", 1_073_741_823, 17_592_186_044_415),
        ]
        for (id, endpointSeq, eventSeq) in cases {
            #expect(key(id) == WebhookDeliveryKey(endpointSeq: endpointSeq, eventSeq: eventSeq), "\(id)")
        }
    }

    @Test func anIdThatIsNotVersion7CarriesNoKey() {
        #expect(key("9b2f4c1e-8a3d-4e5f-9a6b-7c8d9e0f1a2b") == nil)
        #expect(key("01a23150-f5b1-7000-0000-100000000001") == nil)
    }
}
