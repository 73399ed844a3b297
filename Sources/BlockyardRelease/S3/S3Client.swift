import BlockyardCore
import Foundation

/// `s3://bucket/prefix`: where a release directory is published.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public let bucket: String
    /// Key prefix without leading or trailing `/` (empty for the bucket root).
    public let prefix: String

    public init(bucket: String, prefix: String = "") {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }

    /// Parses `s3://bucket[/prefix]`.
    public init(uri: String) throws(ReleaseError) {
        guard uri.hasPrefix("s3://") else { throw ReleaseError(.usage, "'\(uri)' is not an s3://bucket/prefix URI") }
        let rest = uri.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        let bytes = Array(bucket.utf8)
        guard (3...63).contains(bytes.count),
              bytes.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }) else {
            throw ReleaseError(.usage, "'\(bucket)' is not a valid S3 bucket name (3-63 lower-case letters, digits, '-' and '.')")
        }
        self.init(bucket: bucket, prefix: String(rest.dropFirst(bucket.count)))
    }

    /// The object key of a path relative to the release root.
    public func key(_ relativePath: String) -> String { prefix.isEmpty ? relativePath : "\(prefix)/\(relativePath)" }

    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
}

/// Path-style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`) URLs.
public enum S3Addressing: String, Sendable, CaseIterable {
    /// Virtual-hosted for `*.amazonaws.com` with a bucket name that is a DNS label, else path.
    case auto
    case path
    case virtual
}

/// An S3 error reply (`<Error><Code>…</Code><Message>…</Message></Error>`) or a transport failure.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    /// HTTP status; 0 for a transport failure.
    public let status: Int
    public let code: String
    public let message: String
    public let operation: String

    public var description: String {
        status == 0 ? "\(operation): \(message)" : "\(operation): HTTP \(status) \(code)\(message.isEmpty ? "" : ": \(message)")"
    }

    /// Worth retrying: throttling, server errors, timeouts, dropped connections.
    var isTransient: Bool {
        status == 0 || status == 429 || status >= 500
            || ["RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"].contains(code)
    }
}

/// An object's metadata from HEAD.
public struct S3ObjectHead: Sendable, Equatable {
    public var size: Int
    public var etag: String?
    public var contentType: String?
    public var cacheControl: String?
    /// `x-amz-meta-*` headers, names without the prefix, lower-cased.
    public var metadata: [String: String]
}

/// An entry of a bucket listing.
public struct S3ObjectSummary: Sendable, Equatable {
    public var key: String
    public var size: Int
    public var etag: String?
}

/// An incomplete multipart upload.
public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadId: String
}

/// A small S3 REST client: objects, multipart uploads and listings, signed with SigV4, with
/// retries (exponential backoff with jitter) on throttling, 5xx replies and transport errors.
/// It never logs or reports credentials; errors carry S3's code and message only.
public final class S3Client: Sendable {
    public let endpoint: URL
    public let region: String
    public let addressing: S3Addressing
    let signer: SigV4Signer
    let transport: HTTPTransport
    let maxAttempts: Int
    let retryBaseDelay: Double

    /// - Parameters:
    ///   - endpoint: e.g. `http://127.0.0.1:9000`; nil for AWS (`https://s3.REGION.amazonaws.com`).
    ///   - maxAttempts: tries per request, including the first.
    public init(endpoint: URL?, region: String, credentials: AWSCredentials, addressing: S3Addressing = .auto,
                transport: HTTPTransport = URLSessionTransport(), maxAttempts: Int = 4, retryBaseDelay: Double = 0.25) {
        self.endpoint = endpoint ?? URL(string: "https://s3.\(region).amazonaws.com")!
        self.region = region
        self.addressing = addressing
        signer = SigV4Signer(credentials: credentials, region: region)
        self.transport = transport
        self.maxAttempts = max(1, maxAttempts)
        self.retryBaseDelay = retryBaseDelay
    }

    // MARK: Objects

    /// HEAD; nil when the object does not exist.
    public func headObject(bucket: String, key: String) throws(S3Error) -> S3ObjectHead? {
        let response = try perform("HEAD", bucket: bucket, key: key, operation: "HEAD \(key)", allow404: true)
        if response.status == 404 { return nil }
        var metadata: [String: String] = [:]
        for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") {
            metadata[String(name.dropFirst("x-amz-meta-".count))] = value
        }
        return S3ObjectHead(size: Int(response.headers["content-length"] ?? "") ?? 0, etag: response.headers["etag"],
                            contentType: response.headers["content-type"], cacheControl: response.headers["cache-control"],
                            metadata: metadata)
    }

    /// GET the whole object.
    public func getObject(bucket: String, key: String) throws(S3Error) -> (body: Data, headers: [String: String]) {
        let response = try perform("GET", bucket: bucket, key: key, operation: "GET \(key)")
        return (response.body, response.headers)
    }

    /// PUT an object in one request (up to 5 GiB). Returns the ETag.
    @discardableResult
    public func putObject(bucket: String, key: String, body: Data, headers: [String: String] = [:]) throws(S3Error) -> String? {
        try perform("PUT", bucket: bucket, key: key, headers: headers, body: body, operation: "PUT \(key)").headers["etag"]
    }

    // MARK: Multipart uploads

    /// Starts a multipart upload; `headers` (Content-Type, Cache-Control, x-amz-meta-*) apply
    /// to the finished object.
    public func createMultipartUpload(bucket: String, key: String, headers: [String: String] = [:]) throws(S3Error) -> String {
        let response = try perform("POST", bucket: bucket, key: key, query: [("uploads", "")], headers: headers,
                                   operation: "create multipart upload of \(key)")
        guard let id = XMLNode.parse(response.body)?.value("UploadId"), !id.isEmpty else {
            throw S3Error(status: response.status, code: "MalformedReply", message: "no UploadId in the reply",
                          operation: "create multipart upload of \(key)")
        }
        return id
    }

    /// Uploads part `number` (1…10000). Returns its ETag.
    public func uploadPart(bucket: String, key: String, uploadId: String, number: Int, body: Data) throws(S3Error) -> String {
        let operation = "upload part \(number) of \(key)"
        let response = try perform("PUT", bucket: bucket, key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)],
                                   body: body, operation: operation)
        guard let etag = response.headers["etag"] else {
            throw S3Error(status: response.status, code: "MalformedReply", message: "no ETag in the reply", operation: operation)
        }
        return etag
    }

    /// Completes an upload from its parts' (number, ETag), in order. S3 may answer 200 with an
    /// error document; that is reported as an error.
    @discardableResult
    public func completeMultipartUpload(bucket: String, key: String, uploadId: String, parts: [(Int, String)]) throws(S3Error) -> String? {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (number, etag) in parts {
            xml += "<Part><PartNumber>\(number)</PartNumber><ETag>\(XMLNode.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let operation = "complete multipart upload of \(key)"
        let response = try perform("POST", bucket: bucket, key: key, query: [("uploadId", uploadId)],
                                   headers: ["Content-Type": "application/xml"], body: Data(xml.utf8), operation: operation,
                                   errorIn200: true)
        return XMLNode.parse(response.body)?.value("ETag")
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadId: String) throws(S3Error) {
        _ = try perform("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadId)], operation: "abort multipart upload of \(key)",
                        allow404: true)
    }

    /// Incomplete multipart uploads under `prefix`.
    public func listMultipartUploads(bucket: String, prefix: String) throws(S3Error) -> [S3MultipartUpload] {
        var uploads: [S3MultipartUpload] = []
        var keyMarker: String?, idMarker: String?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let response = try perform("GET", bucket: bucket, key: nil, query: query, operation: "list multipart uploads")
            guard let root = XMLNode.parse(response.body) else {
                throw S3Error(status: response.status, code: "MalformedReply", message: "not XML", operation: "list multipart uploads")
            }
            for upload in root.all("Upload") {
                if let key = upload.value("Key"), let id = upload.value("UploadId") { uploads.append(S3MultipartUpload(key: key, uploadId: id)) }
            }
            let truncated = root.value("IsTruncated") == "true"
            keyMarker = truncated ? root.value("NextKeyMarker") : nil
            idMarker = truncated ? root.value("NextUploadIdMarker") : nil
        } while keyMarker != nil
        return uploads
    }

    // MARK: Buckets

    /// Objects under `prefix` (ListObjectsV2, all pages).
    public func listObjects(bucket: String, prefix: String) throws(S3Error) -> [S3ObjectSummary] {
        var objects: [S3ObjectSummary] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try perform("GET", bucket: bucket, key: nil, query: query, operation: "list \(bucket)")
            guard let root = XMLNode.parse(response.body) else {
                throw S3Error(status: response.status, code: "MalformedReply", message: "not XML", operation: "list \(bucket)")
            }
            for entry in root.all("Contents") {
                guard let key = entry.value("Key") else { continue }
                objects.append(S3ObjectSummary(key: key, size: Int(entry.value("Size") ?? "") ?? 0, etag: entry.value("ETag")))
            }
            token = root.value("IsTruncated") == "true" ? root.value("NextContinuationToken") : nil
        } while token != nil
        return objects
    }

    /// Creates a bucket (outside us-east-1 with a location constraint).
    public func createBucket(_ bucket: String) throws(S3Error) {
        var body: Data?
        if region != "us-east-1" {
            body = Data("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        _ = try perform("PUT", bucket: bucket, key: nil, body: body, operation: "create bucket \(bucket)")
    }

    // MARK: Requests

    /// The URL of `key` in `bucket` (or of the bucket), with the key encoded as it is signed.
    public func url(bucket: String, key: String?, query: [(String, String)] = []) -> URL {
        var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)!
        var basePath = components.percentEncodedPath
        if basePath.hasSuffix("/") { basePath.removeLast() }
        let encodedKey = key.map { SigV4Signer.uriEncode($0, encodeSlash: false) }
        if usesVirtualHost(bucket) {
            components.host = "\(bucket).\(components.host ?? "")"
            components.percentEncodedPath = basePath + "/" + (encodedKey ?? "")
        } else {
            components.percentEncodedPath = basePath + "/" + bucket + (encodedKey.map { "/" + $0 } ?? "")
        }
        components.percentEncodedQuery = query.isEmpty ? nil : query
            .map { "\(SigV4Signer.uriEncode($0.0))=\(SigV4Signer.uriEncode($0.1))" }
            .joined(separator: "&")
        return components.url!
    }

    private func usesVirtualHost(_ bucket: String) -> Bool {
        switch addressing {
        case .path: return false
        case .virtual: return true
        case .auto: return (endpoint.host ?? "").hasSuffix("amazonaws.com") && !bucket.contains(".")
        }
    }

    /// Code and message for an error reply without a body (HEAD, or a proxy's reply).
    private static func explain(_ status: Int) -> (code: String, message: String) {
        switch status {
        case 301, 307: ("PermanentRedirect", "the bucket is in another region: check --region")
        case 400: ("BadRequest", "")
        case 403: ("AccessDenied", "access denied or bad signature: check the credentials, --region and --endpoint")
        case 404: ("NotFound", "")
        default: ("HTTPError", "")
        }
    }

    private func perform(_ method: String, bucket: String, key: String?, query: [(String, String)] = [],
                         headers: [String: String] = [:], body: Data? = nil, operation: String,
                         allow404: Bool = false, errorIn200: Bool = false) throws(S3Error) -> HTTPResponse {
        let payloadHash = body.map { SHA2Hasher.hash(.sha256, Array($0)).hex } ?? SigV4Signer.emptyPayloadHash
        let url = url(bucket: bucket, key: key, query: query)
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPRequest(method: method, url: url, headers: headers, body: body)
            signer.sign(&request, payloadHash: payloadHash, date: Date())
            let failure: S3Error
            do {
                let response = try transport.send(request)
                if (200..<300).contains(response.status) || (allow404 && response.status == 404) {
                    if errorIn200, let root = XMLNode.parse(response.body), root.name == "Error" {
                        failure = S3Error(status: response.status, code: root.value("Code") ?? "Error",
                                          message: root.value("Message") ?? "", operation: operation)
                    } else {
                        return response
                    }
                } else {
                    let root = XMLNode.parse(response.body)
                    let fallback = Self.explain(response.status)
                    failure = S3Error(status: response.status, code: root?.value("Code") ?? fallback.code,
                                      message: root?.value("Message") ?? fallback.message, operation: operation)
                }
            } catch {
                failure = S3Error(status: 0, code: "TransportError", message: error.message, operation: operation)
            }
            guard failure.isTransient, attempt < maxAttempts else { throw failure }
            let delay = min(8, retryBaseDelay * Double(1 << (attempt - 1))) * Double.random(in: 0.5...1.0)
            Thread.sleep(forTimeInterval: delay)
        }
    }
}
