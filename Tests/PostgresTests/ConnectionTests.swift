import Common
import Foundation
import Postgres
import Testing

/// The libpq wrapper against a real PostgreSQL (`DATABASE_URL`, given by `make unit`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DATABASE_URL"] != nil, "needs DATABASE_URL"))
struct ConnectionTests {
    let db: Connection
    init() throws { db = try Connection(conninfo: ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "") }

    @Test func interpolatedValuesAreBoundNeverSpliced() throws {
        let hostile = "'); DROP TABLE customers; --"
        let query: SQLQuery = "SELECT \(hostile)::text, \(Int64(42))::bigint, \(true)::boolean"
        #expect(query.sql == "SELECT $1::text, $2::bigint, $3::boolean")
        let row = try #require(try db.query(query).first)
        #expect(row.string(0) == hostile && row.int64(1) == 42 && row.bool(2) == true)
    }

    @Test func rowsDecodeEveryTypeTheServiceReads() throws {
        let id = UUID128.v7(count: 1)[0]
        let at = Timestamp(epochSeconds: 1_769_853_600)
        let row = try #require(
            try db.query(
                "SELECT \(id)::uuid, \(at)::timestamptz, NULL::text, \(Int64.min)::bigint, 'é€😀'::text, false"
            ).first)
        #expect(row.uuid(0) == id)
        #expect(row.timestamp(1) == at)
        #expect(row.isNull(2) && row.string(2) == nil)
        #expect(row.int64(3) == Int64.min)
        #expect(row.string(4) == "é€😀")
        #expect(row.bool(5) == false)
    }

    @Test func aFailedStatementIsATypedErrorAndTheConnectionStaysUsable() throws {
        do {
            try db.query("SELECT 1 / \(Int64(0))")
            Issue.record("division by zero was not refused")
        } catch {
            // Typed: the SQLSTATE to act on, and a description that leaks no SQL or data.
            #expect(error.sqlState == "22012" && error.description == "database error 22012")
        }
        #expect(try db.query("SELECT 2").first?.int64(0) == 2)
    }

    @Test func aTransactionRollsBackWhenItsBodyThrows() throws {
        struct Refused: Error {}
        try db.execute(unsafeSQL: "CREATE TEMP TABLE IF NOT EXISTS scratch (n int)")
        #expect(throws: Refused.self) {
            try db.transaction {
                try db.query("INSERT INTO scratch VALUES (\(Int64(1))::int)")
                throw Refused()
            }
        }
        #expect(try db.query("SELECT count(*) FROM scratch").first?.int64(0) == 0)
    }

    @Test func prefetchedStatementsAnswerInOneRoundTripEachItsOwn() throws {
        let queries: [SQLQuery] = (0..<5).map { "SELECT \(Int64($0))::bigint * 10" } + ["SELECT 1 / \(Int64(0))"]
        let fetched = db.prefetch(queries)
        #expect(fetched.count == 6)
        for index in 0..<5 {
            db.use(fetched[index])
            // Answered from the prefetched result: the very statement, the very binds.
            #expect(try db.query("SELECT \(Int64(index))::bigint * 10").first?.int64(0) == Int64(index) * 10)
        }
        if let failed = fetched[5] {
            db.use(failed)
            #expect(throws: PostgresError.self) { try db.query("SELECT 1 / \(Int64(0))") }
        }
        // A prefetched result is never handed to another statement.
        db.use(db.prefetch(["SELECT \(Int64(7))::bigint"])[0])
        #expect(try db.query("SELECT \(Int64(8))::bigint").first?.int64(0) == 8)
    }

    @Test func theFirstStatementOfCodeIsRecordedNotRun() throws {
        let deferral = db.firstStatement {
            _ = try? db.query("SELECT \(Int64(5))::bigint")
            _ = try? db.query("SELECT 6")
        }
        guard case .statement(let query) = deferral else {
            Issue.record("expected a recorded statement")
            return
        }
        #expect(query.sql == "SELECT $1::bigint" && query.binds == ["5"])
        #expect(db.firstStatement { _ = try? db.transaction { () } }.map { "\($0)" } == "notDeferrable")
    }
}
