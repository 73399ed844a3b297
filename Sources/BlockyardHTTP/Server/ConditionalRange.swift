import BlockyardCore

/// What to answer for a representation, given the request's conditional and Range headers
/// (RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
/// then Range with If-Range).
enum RangeDecision: Equatable, Sendable {
    /// 412.
    case preconditionFailed
    /// 304.
    case notModified
    /// 200 with the whole body.
    case full
    /// 206: one range (plain) or several (multipart/byteranges), in request order.
    case partial([ByteRange])
    /// 416 with `Content-Range: bytes */size`: nothing satisfiable, or the range set was
    /// rejected as malformed or abusive (reason given). Never a 200 instead.
    case unsatisfiable(reason: String?)
    /// 400: the request is ambiguous (several Range fields).
    case badRequest(String)
}

/// The request headers the decision depends on, as received (a header field that appears
/// several times has several values).
struct ConditionalHeaders: Sendable {
    var range: [String] = []
    var ifRange: String?
    var ifMatch: String?
    var ifNoneMatch: String?
    var ifModifiedSince: String?
    var ifUnmodifiedSince: String?
}

enum ConditionalRange {
    /// - Parameters:
    ///   - etag: the representation's strong entity tag, quoted (`"…"`), if it has one.
    ///   - lastModified: seconds since 1970, if known.
    static func decide(headers: ConditionalHeaders, size: Int, etag: String?, lastModified: Int64?,
                       limits: RangeLimits) -> RangeDecision {
        if let ifMatch = headers.ifMatch {
            if !matches(ifMatch, etag: etag, weak: false) { return .preconditionFailed }
        } else if let since = headers.ifUnmodifiedSince.flatMap(HTTPDate.parse), let lastModified, lastModified > since {
            return .preconditionFailed
        }
        if let ifNoneMatch = headers.ifNoneMatch {
            if matches(ifNoneMatch, etag: etag, weak: true) { return .notModified }
        } else if let since = headers.ifModifiedSince.flatMap(HTTPDate.parse), let lastModified, lastModified <= since {
            return .notModified
        }
        guard !headers.range.isEmpty else { return .full }
        guard headers.range.count == 1 else { return .badRequest("several Range header fields") }
        if let ifRange = headers.ifRange, !ifRangeHolds(ifRange, etag: etag, lastModified: lastModified) {
            return .full
        }
        switch RangeRequest.evaluate(headers.range[0], size: size, limits: limits) {
        case .full: return .full
        case .ranges(let ranges): return .partial(ranges)
        case .unsatisfiable: return .unsatisfiable(reason: nil)
        case .invalid(let reason): return .unsatisfiable(reason: reason)
        }
    }

    /// If-Range: an entity tag must equal ours by strong comparison (a weak tag never holds);
    /// a date must equal Last-Modified exactly (as nginx does).
    static func ifRangeHolds(_ value: String, etag: String?, lastModified: Int64?) -> Bool {
        let trimmed = value.trimmingASCIISpaces()
        if trimmed.hasPrefix("\"") || trimmed.hasPrefix("W/") {
            guard let etag, !trimmed.hasPrefix("W/") else { return false }
            return trimmed == etag
        }
        guard let date = HTTPDate.parse(trimmed), let lastModified else { return false }
        return date == lastModified
    }

    /// Whether a list of entity tags (If-Match, If-None-Match) contains ours; `*` matches any
    /// existing representation.
    static func matches(_ list: String, etag: String?, weak: Bool) -> Bool {
        let tags = entityTags(list)
        if tags.contains("*") { return true }
        guard let etag else { return false }
        for tag in tags {
            if tag.hasPrefix("W/") {
                if weak && String(tag.dropFirst(2)) == etag { return true }
            } else if tag == etag {
                return true
            }
        }
        return false
    }

    /// Splits `"a", W/"b", *` into its tags (commas inside quotes do not split).
    static func entityTags(_ list: String) -> [String] {
        var tags: [String] = []
        var current = ""
        var quoted = false
        for c in list {
            if c == "\"" { quoted.toggle() }
            if c == "," && !quoted {
                tags.append(current.trimmingASCIISpaces())
                current = ""
            } else {
                current.append(c)
            }
        }
        tags.append(current.trimmingASCIISpaces())
        return tags.filter { !$0.isEmpty }
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
