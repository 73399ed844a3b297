import BlockyardRelease
import Foundation

/// An electron-builder "generic" update feed and the URLs derived from it, following
/// electron-updater's `GenericProvider` and `newUrlFromBase` (shared/specs/electron-updater.md):
///
/// * The feed URL gets a trailing `/` on its path; channel files and relative `files[].url`
///   are resolved against it (an absolute file URL is used as it is).
/// * If the feed URL has a query, that query **replaces** the query of every derived URL:
///   the channel file, every artifact (absolute ones too), blockmaps and signatures.
/// * Otherwise the channel file gets `?noCache=<milliseconds in base 32>` as a cache-buster,
///   unless the request headers carry `Authorization` or `Private-Token`.
/// * A blockmap is `<file URL path>.blockmap` with the file URL's query; a channel file's
///   signature is `<channel file path>.sig` with the channel file's query.
public struct UpdateFeed: Sendable, Equatable {
    /// The feed URL with `/` appended to its path, without query or fragment.
    public let baseURL: URL
    /// The feed's percent-encoded query (without `?`), copied to every derived URL.
    public let query: String?

    public init(_ text: String) throws(UpdateError) {
        guard var components = URLComponents(string: Self.encodeLoosely(text)),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty else {
            throw UpdateError(.usage, "--feed \(text): not an http(s) URL")
        }
        let query = components.percentEncodedQuery
        components.percentEncodedQuery = nil
        components.fragment = nil
        if !components.percentEncodedPath.hasSuffix("/") { components.percentEncodedPath += "/" }
        guard let url = components.url else { throw UpdateError(.usage, "--feed \(text): not a valid URL") }
        baseURL = url
        self.query = (query?.isEmpty ?? true) ? nil : query
    }

    /// The channel file's URL (`latest.yml`, `beta-mac.yml`, …).
    /// - Parameters:
    ///   - headers: request headers; `Authorization` or `Private-Token` suppress the cache-buster.
    ///   - now: the time the cache-buster is made from.
    public func channelFileURL(name: String, headers: [(String, String)] = [], now: Date = Date()) -> URL {
        let url = Self.resolve(name, against: baseURL)
        if query != nil { return withQuery(url) }
        guard Self.addsNoCacheQuery(headers: headers) else { return url }
        let milliseconds = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        return Self.setting(query: "noCache=\(String(milliseconds, radix: 32))", on: url)
    }

    /// The URL of a `files[].url` entry.
    public func fileURL(_ entry: String) -> URL {
        withQuery(Self.resolve(entry, against: baseURL))
    }

    /// electron-updater's `isAddNoCacheQuery`: no cache-buster when authentication headers are set.
    public static func addsNoCacheQuery(headers: [(String, String)]) -> Bool {
        !headers.contains { ["authorization", "private-token"].contains($0.0.lowercased()) }
    }

    /// `<path>.blockmap` beside an artifact, with the artifact URL's query.
    public static func blockmapURL(forFile url: URL) -> URL { appendingToPath(url, ReleaseLayout.blockmapSuffix) }

    /// `<path>.sig` beside a channel file, with its query.
    public static func signatureURL(forChannelFile url: URL) -> URL { appendingToPath(url, ReleaseLayout.signatureSuffix) }

    private func withQuery(_ url: URL) -> URL {
        guard let query else { return url }
        return Self.setting(query: query, on: url)
    }

    static func resolve(_ reference: String, against base: URL) -> URL {
        let encoded = encodeLoosely(reference)
        if let url = URL(string: encoded, relativeTo: base) { return url.absoluteURL }
        return base.appendingPathComponent(reference)
    }

    static func setting(query: String, on url: URL) -> URL {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: true) else { return url }
        components.percentEncodedQuery = query
        return components.url ?? url
    }

    static func appendingToPath(_ url: URL, _ suffix: String) -> URL {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: true) else { return url }
        components.percentEncodedPath += suffix
        return components.url ?? url
    }

    /// Percent-encodes what a WHATWG URL parser would encode in a path or query (spaces,
    /// non-ASCII, quotes, angle brackets…), leaving reserved characters and existing `%XX`
    /// escapes alone: `MyApp Setup 1.0.exe` → `MyApp%20Setup%201.0.exe`.
    static func encodeLoosely(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            let keep: Bool
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                keep = true
            default:
                keep = Array("-._~:/?#[]@!$&'()*+,;=%".utf8).contains(byte)
            }
            if keep {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
