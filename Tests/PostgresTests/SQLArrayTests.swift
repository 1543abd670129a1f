import Common
import Postgres
import Testing

@Suite struct SQLArrayTests {
    @Test func quotesAndEscapesTextAndWritesNull() {
        let texts: [String?] = ["plain", #"say "hi""#, #"back\slash"#, nil, "NULL", "", "é漢 ,{}"]
        #expect(
            SQLArray(texts).sqlText
                == #"{"plain","say \"hi\"","back\\slash",NULL,"NULL","","é漢 ,{}"}"#)
    }

    @Test func writesIdsAndTimestampsBare() throws {
        let id = try #require(UUID128(parsing: "01890a5d-ac96-774b-bcce-b302099a8057"))
        let time = Timestamp(epochSeconds: 1_769_853_600)
        #expect(
            SQLArray([id, id]).sqlText == "{01890a5d-ac96-774b-bcce-b302099a8057,01890a5d-ac96-774b-bcce-b302099a8057}")
        #expect(SQLArray([time, nil]) { $0 }.sqlText == "{2026-01-31T10:00:00Z,NULL}")
    }

    @Test func picksOneValuePerItem() {
        let items = [(n: Int64(1), name: "a"), (n: -2, name: "b")]
        #expect(SQLArray(items) { $0.n }.sqlText == #"{"1","-2"}"#)
        #expect(SQLArray(items) { $0.name }.sqlText == #"{"a","b"}"#)
        #expect(SQLArray([String]()).sqlText == "{}")
    }
}

@Suite struct SQLQueryTests {
    @Test func appendsAStatementWithItsPlaceholdersRenumbered() {
        let id = "a"
        var query: SQLQuery = "WITH x AS (SELECT \(id), \(2)), "
        query.append("y AS (SELECT \("b") || \("c"), '$' AS dollar) SELECT 1")
        #expect(query.sql == "WITH x AS (SELECT $1, $2), y AS (SELECT $3 || $4, '$' AS dollar) SELECT 1")
        #expect(query.binds == ["a", "2", "b", "c"])
        var first: SQLQuery = "SELECT "
        first.append("\(7) + $10")
        #expect(first.sql == "SELECT $1 + $10" && first.binds == ["7"])
    }
}
