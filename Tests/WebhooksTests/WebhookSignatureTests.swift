import Billing
import Common
import Testing
import Webhooks

@Suite struct WebhookSignatureTests {
    /// The expected values were computed by Python's hmac module, not by this code.
    @Test func signsLikeStripeWithOneSignaturePerSecret() {
        let body = Array(#"{"a":1}"#.utf8)
        let time = Timestamp(epochSeconds: 1_700_000_000)
        var signature = WebhookSignature()
        #expect(
            signature.header(body: body, secrets: ["whsec_test"], at: time)
                == "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789")
        // Twice each: the second signature under a key already set up is the same.
        for _ in 0..<2 {
            #expect(
                signature.header(body: body, secrets: ["whsec_test", "whsec_old"], at: time)
                    == "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789,"
                    + "v1=b9d801502bb535e960ee9aeee7a294b082bda5089d79c7db610b85116ce6faa6")
        }
    }

    @Test func retriesFollowTheScheduleWithTenPercentJitterThenStop() {
        let schedule = [60, 300, 1800]
        for (attempts, wait) in zip(1..., schedule) {
            for _ in 0..<200 {
                let millis = WebhookDeliveryStore.retryWaitMillis(after: attempts, schedule: schedule) ?? 0
                #expect(millis >= wait * 900 && millis <= wait * 1100)
            }
        }
        #expect(WebhookDeliveryStore.retryWaitMillis(after: 4, schedule: schedule) == nil)
    }

    /// `/metrics` counts attempts by a handful of results, whatever the answer was.
    @Test(
        arguments: [
            (200, nil, "succeeded"), (204, nil, "succeeded"), (301, nil, "http_3xx"), (404, nil, "http_4xx"),
            (503, nil, "http_5xx"), (102, nil, "http_other"), (nil, "timeout", "timeout"),
            (nil, "connection refused", "connection_refused"), (nil, "address refused", "address_refused"),
            (nil, "host not resolved", "host_not_resolved"), (nil, "SSL peer certificate was not OK", "other_error"),
        ] as [(Int?, String?, String)])
    func attemptsAreCountedByResult(_ status: Int?, _ error: String?, _ result: String) {
        #expect(WebhookDeliveryStore.Outcome(status: status, error: error).result == result)
    }
}

@Suite struct WebhookAddressTests {
    static func v4(_ text: String) -> [UInt8] { text.split(separator: ".").map { UInt8($0)! } }

    /// IPv6 from 8 groups (no `::` shorthand here, to keep the table explicit).
    static func v6(_ groups: [UInt16]) -> [UInt8] { groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } }

    @Test(arguments: [
        ("127.0.0.1", false), ("127.255.0.9", false), ("10.0.0.1", false), ("172.16.0.1", false),
        ("172.31.255.255", false), ("172.32.0.1", true), ("192.168.1.1", false), ("169.254.169.254", false),
        ("100.64.0.1", false), ("100.128.0.1", true), ("0.0.0.0", false), ("224.0.0.1", false),
        ("255.255.255.255", false), ("198.18.0.1", false), ("8.8.8.8", true), ("93.184.216.34", true),
    ])
    func ipv4(_ address: String, _ allowed: Bool) {
        #expect(WebhookAddress.isAllowed(Self.v4(address)) == allowed, "\(address)")
    }

    @Test func ipv6() {
        let cases: [([UInt16], Bool)] = [
            ([0, 0, 0, 0, 0, 0, 0, 1], false),  // ::1
            ([0, 0, 0, 0, 0, 0, 0, 0], false),  // ::
            ([0, 0, 0, 0, 0, 0xFFFF, 0x7F00, 0x0001], false),  // ::ffff:127.0.0.1
            ([0, 0, 0, 0, 0, 0xFFFF, 0x0A00, 0x0001], false),  // ::ffff:10.0.0.1
            ([0, 0, 0, 0, 0, 0xFFFF, 0x0808, 0x0808], true),  // ::ffff:8.8.8.8
            ([0x64, 0xFF9B, 0, 0, 0, 0, 0xA9FE, 0xA9FE], false),  // 64:ff9b::169.254.169.254
            ([0xFE80, 0, 0, 0, 0, 0, 0, 1], false),  // link-local
            ([0xFD00, 0, 0, 0, 0, 0, 0, 1], false),  // unique local
            ([0xFF02, 0, 0, 0, 0, 0, 0, 1], false),  // multicast
            ([0x2606, 0x4700, 0, 0, 0, 0, 0, 0x1111], true),  // a public address
        ]
        for (groups, allowed) in cases {
            #expect(WebhookAddress.isAllowed(Self.v6(groups)) == allowed, "\(groups)")
        }
    }

    @Test func urls() {
        #expect(
            WebhookAddress.parse("https://Example.com/hook?x=1")
                == .init(scheme: "https", host: "example.com", port: 443))
        #expect(WebhookAddress.parse("http://[::1]:8080/") == .init(scheme: "http", host: "::1", port: 8080))
        #expect(WebhookAddress.parse("http://127.0.0.1:9/x") == .init(scheme: "http", host: "127.0.0.1", port: 9))
        for bad in [
            "ftp://example.com", "https://user:pw@example.com/", "https:///path", "https://example.com:0/",
            "https://example.com:70000/", "example.com/hook", "https://example.com/#frag", "https://exa mple.com/",
        ] {
            #expect(WebhookAddress.parse(bad) == nil, "\(bad)")
        }
        #expect(WebhookAddress.resolve("127.0.0.1") == [[127, 0, 0, 1]])
    }
}
