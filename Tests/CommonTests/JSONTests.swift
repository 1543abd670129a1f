import Common
import Testing

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func parsesEveryKind() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#)
        #expect(
            value
                == .object([
                    JSONMember(
                        key: "a",
                        value: .array([
                            .number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("x\né😀"),
                        ])),
                    JSONMember(key: "b", value: .object([])),
                ]))
    }

    @Test func keepsNumbersAsWritten() throws {
        #expect(try parse("10000000000000000000000") == .number("10000000000000000000000"))
        #expect(try parse("1.50") == .number("1.50"))
    }

    @Test(arguments: [
        "", "{", "{\"a\":}", "{\"a\":1,}", "[1,]", "01", "1.", ".5", "+1", "NaN", "Infinity", "tru", "nul",
        "\"unterminated", "{'a':1}", "{\"a\" 1}", "[1 2]", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"a\u{01}b\"", "{} {}", "// comment\n{}", "\"\\u12\"",
    ])
    func refusesInvalidJSON(text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8() {
        for bytes: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE2, 0x82],
        ] {
            #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bytes) }
        }
    }

    @Test func boundsNestingDepth() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try parse(fine)
    }
}

@Suite struct JSONWriterTests {
    @Test func writesObjectsWithCommasAndEscapes() {
        var json = JSONWriter()
        json.beginObject()
        json.field("s", "a\"b\\c\nd\u{01}é")
        json.field("n", Int64(-5))
        json.field("b", true)
        json.field("t", Timestamp(epochSeconds: 0))
        json.field("missing", nil as String?)
        json.field("id", UUID128(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210))
        json.field("plain", "ünïcode, no escapes")
        json.key("list")
        json.beginArray()
        json.value(1)
        json.value(2)
        json.endArray()
        json.endObject()
        #expect(
            String(decoding: json.bytes, as: UTF8.self)
                == #"{"s":"a\"b\\c\nd\u0001é","n":-5,"b":true,"t":"1970-01-01T00:00:00Z","missing":null,"id":"01234567-89ab-cdef-fedc-ba9876543210","plain":"ünïcode, no escapes","list":[1,2]}"#
        )
    }

    @Test func roundTripsThroughTheParser() throws {
        let value = JSONValue.object([
            JSONMember(key: "emoji 😀", value: .string("\u{202E}rtl \u{0301} \u{FEFF}")),
            JSONMember(key: "sql", value: .string("'; DROP TABLE customers; --")),
        ])
        var json = JSONWriter()
        json.value(value)
        #expect(try JSONParser.parse(json.bytes) == value)
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func matchesStandardVectors(message: String, digest: String) {
        #expect(SHA256.hex(Array(message.utf8)) == digest)
    }

    @Test func hashesAMillionAs() {
        #expect(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct UUIDTests {
    @Test func parsesAndFormatsCanonically() {
        let text = "01a2135a-6f24-7ec5-8c14-5bff7fc75624"
        #expect(UUID128(parsing: text)?.description == text)
        #expect(UUID128(parsing: text.uppercased())?.description == text)
    }

    @Test(arguments: [
        "", "not-a-uuid", "01a2135a6f247ec58c145bff7fc75624", "01a2135a-6f24-7ec5-8c14-5bff7fc7562g",
        "01a2135a-6f24-7ec5-8c14-5bff7fc756245", "{01a2135a-6f24-7ec5-8c14-5bff7fc7562}",
    ])
    func refusesMalformed(text: String) {
        #expect(UUID128(parsing: text) == nil)
    }

    @Test func version7IdsAreVersionedAndOrderedByTime() {
        let first = UUID128.v7()
        #expect(first.description.dropFirst(14).first == "7")
        #expect(["8", "9", "a", "b"].contains(first.description.dropFirst(19).first.map(String.init) ?? ""))
        var later = UUID128.v7()
        while later.high >> 16 == first.high >> 16 { later = UUID128.v7() }
        #expect(first < later)
    }
}

/// RFC 4231's test cases 1-4, 6 and 7 (case 5 truncates the output).
@Suite struct HMACSHA256Tests {
    private static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    @Test(arguments: [
        (
            String(repeating: "0b", count: 20), Array("Hi There".utf8),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        (
            "4a656665", Array("what do ya want for nothing?".utf8),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        (
            String(repeating: "aa", count: 20), [UInt8](repeating: 0xdd, count: 50),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        ),
        (
            "0102030405060708090a0b0c0d0e0f10111213141516171819", [UInt8](repeating: 0xcd, count: 50),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        ),
        (
            String(repeating: "aa", count: 131),
            Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        (
            String(repeating: "aa", count: 131),
            Array(
                "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
                    .utf8),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
    ])
    func matchesRFC4231(key: String, message: [UInt8], code: String) {
        #expect(HMACSHA256.hex(message, key: Self.bytes(key)) == code)
    }

    /// An empty key and message (no address to pass for either) still sign.
    @Test func signsWithAnEmptyKey() {
        #expect(
            HMACSHA256.hex([UInt8](), key: [UInt8]())
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }
}
