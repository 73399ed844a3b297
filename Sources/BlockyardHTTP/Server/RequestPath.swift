/// The path of a request target, decoded once and checked so that it can only name something
/// below the served root.
///
/// * Only origin-form targets (`/a/b?query`) are accepted; the query is split off and kept.
/// * Percent-encoding is decoded exactly once (`%252e` stays the three bytes `%2e`); a `%` not
///   followed by two hex digits is an error.
/// * The decoded path must be UTF-8 without NUL, other control characters or backslashes.
/// * `.` and `..` segments are rejected (also when they were encoded as `%2e%2e`), never
///   resolved: a client that sends them is not an updater.
/// * Empty segments (`a//b`, a trailing `/`) are dropped, like nginx's `merge_slashes`; whether
///   the target ended in `/` is kept for directory routes.
/// * A segment starting with `.` (`.git`, `.blockyard`) is hidden: ``isHidden``.
public struct RequestPath: Equatable, Sendable {
    /// Decoded path segments, none empty, `.` or `..`.
    public let segments: [String]
    /// The raw query string after `?` (not decoded), if any.
    public let query: String?
    /// Whether the target's path ended with `/`.
    public let trailingSlash: Bool

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case notOriginForm
        case tooLong(Int)
        case badPercentEncoding
        case notUTF8
        case forbiddenCharacter
        case dotSegment

        public var description: String {
            switch self {
            case .notOriginForm: return "the request target is not an absolute path"
            case .tooLong(let limit): return "the request target is longer than \(limit) bytes"
            case .badPercentEncoding: return "the path has an invalid percent-encoding"
            case .notUTF8: return "the decoded path is not UTF-8"
            case .forbiddenCharacter: return "the path contains a control character or a backslash"
            case .dotSegment: return "the path contains a '.' or '..' segment"
            }
        }
    }

    /// Longest request target accepted (the path of an artifact is far shorter).
    public static let maxTargetLength = 8192

    public init(target: String) throws(Failure) {
        let bytes = Array(target.utf8)
        guard bytes.count <= Self.maxTargetLength else { throw .tooLong(Self.maxTargetLength) }
        guard bytes.first == UInt8(ascii: "/") else { throw .notOriginForm }
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = bytes[..<(queryStart ?? bytes.endIndex)]
        // A fragment never reaches a server; treat '#' like any other byte of the path.
        query = queryStart.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }
        trailingSlash = rawPath.count > 1 && rawPath.last == UInt8(ascii: "/")

        var decodedSegments: [String] = []
        for rawSegment in rawPath.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            let decoded = try Self.percentDecode(rawSegment)
            guard let text = String(validating: decoded, as: UTF8.self) else { throw .notUTF8 }
            guard !decoded.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) else {
                throw .forbiddenCharacter
            }
            // An encoded '/' would smuggle a separator into a segment.
            guard !decoded.contains(UInt8(ascii: "/")) else { throw .forbiddenCharacter }
            guard text != "." && text != ".." else { throw .dotSegment }
            decodedSegments.append(text)
        }
        segments = decodedSegments
    }

    /// `a/b/c` (no leading slash); empty for the root.
    public var relativePath: String { segments.joined(separator: "/") }

    /// Whether a segment names a hidden file or directory (starts with `.`).
    public var isHidden: Bool { segments.contains { $0.hasPrefix(".") } }

    static func percentDecode(_ bytes: ArraySlice<UInt8>) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else {
                    throw .badPercentEncoding
                }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
