import Billing
import Testing

@testable import Documents

/// The hosted page is text only: everything a customer or seller typed is escaped.
@Suite struct HostedPageTests {
    @Test(arguments: [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("Tom & \"Jerry\" 'x'", "Tom &amp; &quot;Jerry&quot; &#39;x&#39;"),
        ("Zoë Åström 王小明", "Zoë Åström 王小明"),
    ])
    func escapes(text: String, expected: String) {
        #expect(HTML.escape(text) == expected)
    }

    @Test func thePolicyAllowsNoScriptAndOnlyItsOwnStyle() {
        let policy = HostedPage.contentSecurityPolicy
        #expect(policy.hasPrefix("default-src 'none';"))
        #expect(!policy.contains("script-src"))
        #expect(!policy.contains("unsafe-inline"))
        #expect(policy.contains(HostedPage.styleHash))
    }
}
