import Common
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-01-31T10:00:00Z", Int64(1_769_853_600)),
        ("2024-02-29T23:59:59Z", Int64(1_709_251_199)),
        ("2026-01-31T12:00:00+02:00", Int64(1_769_853_600)),
        ("2026-01-31T05:30:00-04:30", Int64(1_769_853_600)),
        ("2026-01-31T10:00:00.123456Z", Int64(1_769_853_600)),
        ("2026-01-31t10:00:00z", Int64(1_769_853_600)),
        ("2026-01-31T15:30:00+05:30", Int64(1_769_853_600)),
        // Leap seconds normalise to the next second.
        ("2016-12-31T23:59:60Z", Int64(1_483_228_800)),
        ("2017-01-01T05:29:60+05:30", Int64(1_483_228_800)),
    ])
    func parses(text: String, seconds: Int64) {
        #expect(Timestamp(parsing: text)?.epochSeconds == seconds)
    }

    @Test(arguments: [
        "", "2026-01-31", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-01-31T24:00:00Z", "2026-01-31T10:00:00", "2026-01-31T10:00:00Zjunk", "2026-01-31T10:60:00Z",
        "٢٠٢٦-01-31T10:00:00Z", "2026-01-31T10:00:00+25:00",
        // Not RFC 3339: offsets without a colon or minutes, a space for T, second 60 off minute 59.
        "2026-01-31T15:30:00+0530", "2026-01-31T15:00:00+05", "2026-01-31 10:00:00+00", "2026-01-31 10:00:00Z",
        "2026-01-31T10:58:60Z", "2026-01-31T10:00:61Z", "2026-01-31T10:00:00.Z",
    ])
    func refuses(text: String) {
        #expect(Timestamp(parsing: text) == nil)
    }

    @Test func readsPostgreSQLOutput() {
        for text in ["2026-01-31 10:00:00+00", "2026-01-31 12:00:00+02", "2026-01-31 05:30:00-04:30"] {
            var bytes = text
            #expect(bytes.withUTF8 { Timestamp(utf8: $0) }?.epochSeconds == 1_769_853_600, "\(text)")
        }
    }

    @Test func formatsAsRFC3339InUTC() {
        #expect(Timestamp(epochSeconds: 1_769_853_600).description == "2026-01-31T10:00:00Z")
        #expect(Timestamp(epochSeconds: 0).description == "1970-01-01T00:00:00Z")
        #expect(Timestamp(epochSeconds: 253_402_300_799).description == "9999-12-31T23:59:59Z")
    }

    @Test func civilConversionRoundTripsEveryDayOfFourCenturies() {
        var day = CivilDateTime.daysFromCivil(year: 1900, month: 1, day: 1)
        let end = CivilDateTime.daysFromCivil(year: 2300, month: 1, day: 1)
        while day < end {
            let civil = CivilDateTime.civilFromDays(day)
            #expect(CivilDateTime.daysFromCivil(year: civil.year, month: civil.month, day: civil.day) == day)
            day += 1
        }
    }

    @Test func leapYears() {
        #expect(CivilDateTime.isLeapYear(2024))
        #expect(!CivilDateTime.isLeapYear(2025))
        #expect(!CivilDateTime.isLeapYear(2100))
        #expect(CivilDateTime.isLeapYear(2000))
    }
}

@Suite struct UUIDVersion7Tests {
    @Test func manyAtOnceAreDistinctVersion7AndStartWithTheTime() {
        let before = UInt64(Timestamp.now().epochSeconds) * 1000
        let ids = UUID128.v7(count: 1000)
        #expect(Set(ids).count == 1000)
        for id in ids {
            #expect(id.high & 0xF000 == 0x7000)  // version 7
            #expect(id.low >> 62 == 0b10)  // RFC 9562 variant
            #expect(id.high >> 16 >= before)
        }
    }
}
