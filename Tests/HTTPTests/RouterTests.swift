import HTTP
import Testing

@Suite struct RouterTests {
    private var router: Router<String> {
        var router = Router<String>()
        router.add("GET", "/customers", "list")
        router.add("POST", "/customers", "create")
        router.add("GET", "/customers/{id}", "get")
        router.add("PATCH", "/customers/{id}", "update")
        router.add("GET", "/customers/{id}/invoices", "invoices")
        return router
    }

    private func found(_ method: String, _ path: String) -> (String, [String])? {
        if case .found(let handler, let parameters) = router.match(method: method, path: path) {
            return (handler, parameters)
        }
        return nil
    }

    @Test func matchesLiteralAndParameterSegments() {
        #expect(found("GET", "/customers")?.0 == "list")
        #expect(found("POST", "/customers")?.0 == "create")
        #expect(found("GET", "/customers/abc")?.0 == "get")
        #expect(found("GET", "/customers/abc")?.1 == ["abc"])
        #expect(found("GET", "/customers/abc/invoices")?.1 == ["abc"])
        #expect(found("GET", "/customers/")?.0 == "list")
    }

    @Test func unknownPathsAreNotFound() {
        for path in ["/", "/nope", "/customers/a/b", "//customers", "/customers/a/invoices/x"] {
            guard case .notFound = router.match(method: "GET", path: path) else {
                Issue.record("\(path) should not match")
                continue
            }
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405WithAllow() {
        guard case .methodNotAllowed(let allow) = router.match(method: "DELETE", path: "/customers/x") else {
            Issue.record("expected 405")
            return
        }
        #expect(allow == ["GET", "PATCH"])
    }
}
