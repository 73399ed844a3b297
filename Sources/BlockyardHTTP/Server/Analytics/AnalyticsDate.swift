import Foundation

/// A calendar day in UTC, the unit analytics are kept in (`2026-01-31`). Parsing is strict:
/// exactly `YYYY-MM-DD`, a real date (leap years included), years 1970–9999.
public struct AnalyticsDate: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Days since 1970-01-01.
    public let day: Int

    public init(day: Int) { self.day = day }

    /// The UTC day of `seconds` since 1970.
    public init(seconds: Double) { day = Int((seconds / 86_400).rounded(.down)) }

    /// Parses `YYYY-MM-DD`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let dayOfMonth = number(8..<10),
              (1970...9999).contains(year), (1...12).contains(month),
              (1...Self.daysIn(month: month, year: year)).contains(dayOfMonth) else { return nil }
        day = Self.daysFromCivil(year: year, month: month, day: dayOfMonth)
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (year, month, dayOfMonth) = Self.civil(fromDays: day)
        return String(format: "%04d-%02d-%02d", year, month, dayOfMonth)
    }

    public static func < (a: Self, b: Self) -> Bool { a.day < b.day }

    /// Today in UTC.
    public static func today(now: Date = Date()) -> AnalyticsDate { AnalyticsDate(seconds: now.timeIntervalSince1970) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days-from-civil (proleptic Gregorian).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
