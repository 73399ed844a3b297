/// The `since`/`until` parameters of `/api/analytics` and `/analytics`: inclusive UTC days,
/// `YYYY-MM-DD`. Anything else is refused with a message that never echoes the input.
public struct AnalyticsQuery: Equatable, Sendable {
    public var since: AnalyticsDate?
    public var until: AnalyticsDate?
    /// The access token given as `?token=` (the dashboard's form keeps it).
    public var token: String?

    /// Longest range accepted, in days (ten years).
    public static let maxDays = 3660

    public init(since: AnalyticsDate? = nil, until: AnalyticsDate? = nil, token: String? = nil) {
        self.since = since
        self.until = until
        self.token = token
    }

    /// Parses a raw query string (not yet percent-decoded). Unknown parameters are ignored;
    /// a parameter given twice is an error.
    public init(query: String?) throws(AnalyticsQueryError) {
        var seen = Set<String>()
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            guard name == "since" || name == "until" || name == "token" else { continue }
            guard seen.insert(name).inserted else { throw AnalyticsQueryError("\(name) is given more than once") }
            switch name {
            case "since", "until":
                // An empty value (a form submitted with the date left blank) means no bound.
                if value.isEmpty { continue }
                guard let date = AnalyticsDate(value) else {
                    throw AnalyticsQueryError("\(name) must be a date YYYY-MM-DD between 1970-01-01 and 9999-12-31")
                }
                if name == "since" { since = date } else { until = date }
            default:
                token = RequestPath.percentDecodedQueryValue(value)
            }
        }
        if let since, let until {
            guard since <= until else { throw AnalyticsQueryError("since is after until") }
            guard until.day - since.day < Self.maxDays else {
                throw AnalyticsQueryError("the range is longer than \(Self.maxDays) days")
            }
        }
    }

    /// Whether `date` lies in the range.
    public func contains(_ date: AnalyticsDate) -> Bool {
        (since.map { date >= $0 } ?? true) && (until.map { date <= $0 } ?? true)
    }
}

/// A malformed analytics query (answered 400).
public struct AnalyticsQueryError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension RequestPath {
    /// A query value with `+` as space and percent-escapes decoded; nil when the escapes are
    /// invalid or the result is not UTF-8.
    static func percentDecodedQueryValue(_ value: String) -> String? {
        let bytes = Array(value.utf8).map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }
        guard let decoded = try? percentDecode(bytes[...]) else { return nil }
        return String(validating: decoded, as: UTF8.self)
    }
}
