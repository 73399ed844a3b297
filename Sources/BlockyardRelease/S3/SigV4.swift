import BlockyardCore
import Crypto
import Foundation

/// AWS Signature Version 4 (header form) with HMAC-SHA256 from swift-crypto.
///
/// Canonical request (S3 rules: the path is encoded once, not twice, and not normalised):
///
///     METHOD \n CANONICAL-URI \n CANONICAL-QUERY \n CANONICAL-HEADERS \n \n SIGNED-HEADERS \n PAYLOAD-HASH
///
/// string to sign `AWS4-HMAC-SHA256 \n DATE \n SCOPE \n hex(SHA256(canonical request))`, key
/// `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, yyyymmdd), region), service), "aws4_request")`.
public struct SigV4Signer: Sendable {
    public let credentials: AWSCredentials
    public let region: String
    public let service: String

    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (with a session
    /// token) and `Authorization` to `request`. Every header already on the request is signed,
    /// plus `host` (from the URL).
    public func sign(_ request: inout HTTPRequest, payloadHash: String, date: Date) {
        let amzDate = Self.amzDate(date)
        request.setHeader("x-amz-date", amzDate)
        request.setHeader("x-amz-content-sha256", payloadHash)
        if let token = credentials.sessionToken { request.setHeader("x-amz-security-token", token) }
        var headers = request.headers
        headers["host"] = Self.hostHeader(request.url)
        let canonical = Self.canonicalRequest(method: request.method, url: request.url, headers: headers, payloadHash: payloadHash)
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        let toSign = Self.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonical.request)
        let key = Self.signingKey(secret: credentials.secretAccessKey, date: String(amzDate.prefix(8)), region: region, service: service)
        let signature = Hex.encode(Self.hmac(key: key, Array(toSign.utf8)))
        request.setHeader("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)")
    }

    // MARK: Pieces (public for the test vectors)

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        let iso = ReleaseTimestamp.format(date)   // 2013-05-24T00:00:00.000Z
        let digits = iso.prefix(19).filter { $0 != "-" && $0 != ":" }
        return digits + "Z"
    }

    /// The `Host` header value for `url`: host, plus `:port` unless it is the scheme's default.
    public static func hostHeader(_ url: URL) -> String {
        let host = url.host ?? ""
        guard let port = url.port else { return host }
        let defaultPort = url.scheme?.lowercased() == "https" ? 443 : 80
        return port == defaultPort ? host : "\(host):\(port)"
    }

    public static func canonicalRequest(method: String, url: URL, headers: [String: String],
                                        payloadHash: String) -> (request: String, signedHeaders: String) {
        var path = URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? "/"
        if path.isEmpty { path = "/" }
        let query = canonicalQuery(URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery)
        var canonicalHeaders: [(String, String)] = []
        for (name, value) in headers {
            let collapsed = value.trimmingCharacters(in: .whitespaces)
                .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            canonicalHeaders.append((name.lowercased(), collapsed))
        }
        canonicalHeaders.sort { $0.0 < $1.0 }
        let signed = canonicalHeaders.map(\.0).joined(separator: ";")
        let headerBlock = canonicalHeaders.map { "\($0.0):\($0.1)\n" }.joined()
        return ([method, path, query, headerBlock, signed, payloadHash].joined(separator: "\n"), signed)
    }

    /// Query parameters decoded, re-encoded with ``uriEncode(_:encodeSlash:)`` and sorted by
    /// name, then value; `name=` for a parameter without a value.
    public static func canonicalQuery(_ encoded: String?) -> String {
        guard let encoded, !encoded.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for item in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            pairs.append((uriEncode(name), uriEncode(value)))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(SHA2Hasher.hash(.sha256, Array(canonicalRequest.utf8)).hex)"
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let kDate = hmac(key: Array("AWS4\(secret)".utf8), Array(date.utf8))
        let kRegion = hmac(key: kDate, Array(region.utf8))
        let kService = hmac(key: kRegion, Array(service.utf8))
        return hmac(key: kService, Array("aws4_request".utf8))
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// SigV4's URI encoding: every byte except `A–Z a–z 0–9 - _ . ~` as `%XX` (upper-case
    /// hex); `/` kept when `encodeSlash` is false (object key paths).
    public static func uriEncode(_ text: String, encodeSlash: Bool = true) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for b in text.utf8 {
            let unreserved = (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || (b >= 48 && b <= 57)
                || b == 45 || b == 95 || b == 46 || b == 126
            if unreserved || (b == 47 && !encodeSlash) {
                out.unicodeScalars.append(UnicodeScalar(b))
            } else {
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
