import Common
import FoundationEssentials
import FoundationInternationalization
import Postgres
import Synchronization

/// A customer's time zone (`time.md`): the IANA rules come from Foundation's `TimeZone`
/// (ICU's copy of the tz database), never from a table of our own. Only offsets are asked
/// of it; the calendar arithmetic stays the exact integer `CivilDateTime`, done on local
/// wall time and turned back into an instant here. UTC skips Foundation altogether.
public struct Zone: Equatable, Sendable {
    /// The name as the API exchanges it (`Europe/Paris`).
    public let name: String
    private let rules: TimeZone?

    public static let utc = Zone(name: "UTC", rules: nil)

    private init(name: String, rules: TimeZone?) {
        self.name = name
        self.rules = rules
    }

    /// Looked-up zones, by name: Foundation's lookup parses its rules each time, and every
    /// renewal of a subscription in a zone needs them.
    private static let known = Mutex<[String: Zone]>([:])

    /// The zone of an IANA name (`Europe/Paris`, `Etc/GMT+5`), nil for anything else:
    /// Foundation also answers offsets written as names (`GMT+2`), which are not zones.
    public init?(named name: String) {
        // Most customers are in UTC: every subscription row read asks, without a lock.
        if name == "UTC" {
            self = .utc
            return
        }
        if let zone = Self.known.withLock({ $0[name] }) {
            self = zone
            return
        }
        guard name.count <= 64, !name.hasPrefix("GMT+"), !name.hasPrefix("GMT-"),
            let rules = TimeZone(identifier: name)
        else { return nil }
        self.init(name: name, rules: rules)
        let zone = self
        Self.known.withLock { $0[name] = zone }
    }

    public static func == (lhs: Zone, rhs: Zone) -> Bool { lhs.name == rhs.name }

    /// The version of the tz database the rules come from (ICU's copy: `2025b`). It is also
    /// what keeps ICU's time zones in the statically linked binary: they install themselves
    /// into FoundationEssentials through a dynamic replacement in the object file that
    /// defines `timeZoneDataVersion`, which the linker takes only because it is referenced
    /// here; without it every zone but UTC was unknown (tested end to end). Not called at
    /// start: ICU's data costs a worker 2 MB once touched, and UTC customers never touch it.
    public static var databaseVersion: String { TimeZone.timeZoneDataVersion }

    public var isUTC: Bool { rules == nil }

    /// Seconds the zone's wall clock is ahead of UTC at `instant`.
    public func offset(at instant: Timestamp) -> Int64 {
        guard let rules else { return 0 }
        return Int64(rules.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant.epochSeconds))))
    }

    /// The wall-clock date and time at `instant`.
    public func local(_ instant: Timestamp) -> CivilDateTime {
        CivilDateTime(epochSeconds: instant.epochSeconds + offset(at: instant))
    }

    /// The instant a wall-clock time names. A time the clocks skipped (02:30 on a spring
    /// DST night, any time of Apia's 2011-12-30) is read with the offset before the change,
    /// which lands as far after the change as it was into the gap (03:30); a time that
    /// occurs twice (an autumn night) is its first occurrence. So boundaries computed from
    /// later and later wall times never go backwards.
    public func instant(_ local: CivilDateTime) -> Timestamp {
        let wall = local.epochSeconds
        guard rules != nil else { return Timestamp(epochSeconds: wall) }
        // Offsets change at most once within a day of any instant in the tz database, and
        // by less than a day, so the offsets a day either side are the only candidates.
        let before = offset(at: Timestamp(epochSeconds: wall - 86_400))
        let after = offset(at: Timestamp(epochSeconds: wall + 86_400))
        let earlier = Timestamp(epochSeconds: wall - max(before, after))
        let later = Timestamp(epochSeconds: wall - min(before, after))
        if offset(at: earlier) == max(before, after) { return earlier }
        if offset(at: later) == min(before, after) { return later }
        return Timestamp(epochSeconds: wall - before)
    }

    /// `days` local calendar days after `instant`, at the same wall-clock time: 23 or 25
    /// hours across a DST change, 86,400 s in UTC.
    public func adding(days: Int, to instant: Timestamp) -> Timestamp {
        guard rules != nil else { return instant.adding(seconds: Int64(days) * 86_400) }
        return self.instant(CivilDateTime(epochSeconds: local(instant).epochSeconds + Int64(days) * 86_400))
    }
}

extension RowReader {
    /// A `timezone` column: a name the service checked before storing it.
    mutating func zone() throws(PostgresError) -> Zone {
        let name = try string()
        guard let zone = Zone(named: name) else {
            throw PostgresError(kind: .decoding, detail: "unknown time zone \(name)")
        }
        return zone
    }
}
