import BlockyardRelease
import Foundation
import Testing

/// AWS's published Signature Version 4 examples: the S3 "Examples: signature calculations"
/// (examplebucket, 20130524) and the general signing-key example (IAM, 20120215).
@Suite("SigV4 against AWS's examples")
struct SigV4Tests {
    let credentials = AWSCredentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    let date = Date(timeIntervalSince1970: 1_369_353_600)   // 2013-05-24T00:00:00Z

    func signature(_ request: HTTPRequest) -> String {
        let auth = request.headers["Authorization"] ?? ""
        return String(auth[auth.range(of: "Signature=")!.upperBound...])
    }

    @Test func derivedSigningKey() {
        let key = SigV4Signer.signingKey(secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20120215",
                                         region: "us-east-1", service: "iam")
        #expect(key.map { String(format: "%02x", $0) }.joined() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test func getObjectWithRange() throws {
        var request = HTTPRequest(method: "GET", url: URL(string: "https://examplebucket.s3.amazonaws.com/test.txt")!,
                                  headers: ["Range": "bytes=0-9"])
        SigV4Signer(credentials: credentials, region: "us-east-1").sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        let canonical = SigV4Signer.canonicalRequest(
            method: "GET", url: request.url,
            headers: request.headers.filter { $0.key != "Authorization" }.merging(["host": "examplebucket.s3.amazonaws.com"]) { a, _ in a },
            payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(canonical.request == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(SigV4Signer.stringToSign(amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", canonicalRequest: canonical.request)
                == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(request.headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectWithEncodedKey() {
        let body = Data("Welcome to Amazon S3.".utf8)
        let url = URL(string: "https://examplebucket.s3.amazonaws.com/" + SigV4Signer.uriEncode("test$file.text", encodeSlash: false))!
        #expect(url.path == "/test$file.text")
        var request = HTTPRequest(method: "PUT", url: url,
                                  headers: ["Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"],
                                  body: body)
        SigV4Signer(credentials: credentials, region: "us-east-1")
            .sign(&request, payloadHash: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", date: date)
        #expect(request.headers["Authorization"]?.contains("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,") == true)
        #expect(signature(request) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycle() {
        var request = HTTPRequest(method: "GET", url: URL(string: "https://examplebucket.s3.amazonaws.com/?lifecycle")!)
        SigV4Signer(credentials: credentials, region: "us-east-1").sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(signature(request) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjectsWithSortedQuery() {
        var request = HTTPRequest(method: "GET", url: URL(string: "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2")!)
        SigV4Signer(credentials: credentials, region: "us-east-1").sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(signature(request) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func sessionTokenIsSentAndSigned() {
        let temporary = AWSCredentials(accessKeyId: "ASIAEXAMPLE", secretAccessKey: "secret", sessionToken: "token/with+chars")
        var request = HTTPRequest(method: "HEAD", url: URL(string: "http://127.0.0.1:9000/bucket/key")!)
        SigV4Signer(credentials: temporary, region: "eu-west-1").sign(&request, payloadHash: SigV4Signer.emptyPayloadHash, date: date)
        #expect(request.headers["x-amz-security-token"] == "token/with+chars")
        #expect(request.headers["Authorization"]?.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") == true)
        #expect(SigV4Signer.hostHeader(request.url) == "127.0.0.1:9000")
        #expect(SigV4Signer.hostHeader(URL(string: "https://s3.amazonaws.com:443/x")!) == "s3.amazonaws.com")
    }

    @Test func uriEncoding() {
        #expect(SigV4Signer.uriEncode("releases/1.2.0/My App+ü~_.-.exe", encodeSlash: false) == "releases/1.2.0/My%20App%2B%C3%BC~_.-.exe")
        #expect(SigV4Signer.uriEncode("a/b=c") == "a%2Fb%3Dc")
        #expect(SigV4Signer.canonicalQuery("uploads") == "uploads=")
        #expect(SigV4Signer.canonicalQuery("uploadId=a%2Fb&partNumber=2") == "partNumber=2&uploadId=a%2Fb")
    }

    @Test func credentialsNeverShowTheSecret() throws {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        let loaded = try AWSCredentials.load(environment: ["AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
                                                           "AWS_SESSION_TOKEN": "sessiontoken123"])
        #expect(loaded.hasSessionToken)
        for text in ["\(loaded)", String(describing: loaded), String(reflecting: loaded), "\(Mirror(reflecting: loaded).children.map { "\($0.value)" })"] {
            #expect(!text.contains(secret))
            #expect(!text.contains("sessiontoken123"))
        }
        var dumped = ""
        dump(loaded, to: &dumped)
        #expect(!dumped.contains(secret))
    }

    @Test func credentialsFromSharedFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("credentials").path
        try """
            # comment
            [default]
            aws_access_key_id = AKIADEFAULT
            aws_secret_access_key = s1

            [profile ci]
            aws_access_key_id=AKIACI
            aws_secret_access_key=s2
            aws_session_token=t2
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": file, "HOME": dir.path]
        #expect(try AWSCredentials.load(environment: env).accessKeyId == "AKIADEFAULT")
        #expect(try AWSCredentials.load(environment: env, profile: "ci").accessKeyId == "AKIACI")
        #expect(try AWSCredentials.load(environment: env.merging(["AWS_PROFILE": "ci"]) { a, _ in a }).hasSessionToken)
        expectReleaseError(.usage) { () throws(ReleaseError) in try AWSCredentials.load(environment: env, profile: "missing") }
        expectReleaseError(.usage) { () throws(ReleaseError) in try AWSCredentials.load(environment: ["HOME": dir.path + "/nowhere"]) }
        expectReleaseError(.usage) { () throws(ReleaseError) in try AWSCredentials.load(environment: ["AWS_ACCESS_KEY_ID": "x", "HOME": dir.path]) }
    }

    @Test func s3URLs() throws {
        let client = S3Client(endpoint: nil, region: "eu-west-1", credentials: credentials)
        #expect(client.url(bucket: "my-updates", key: "myapp/latest.yml").absoluteString == "https://my-updates.s3.eu-west-1.amazonaws.com/myapp/latest.yml")
        #expect(client.url(bucket: "my.updates", key: "a b").absoluteString == "https://s3.eu-west-1.amazonaws.com/my.updates/a%20b")
        let local = S3Client(endpoint: URL(string: "http://127.0.0.1:9000")!, region: "us-east-1", credentials: credentials)
        #expect(local.url(bucket: "b", key: "k", query: [("uploads", "")]).absoluteString == "http://127.0.0.1:9000/b/k?uploads=")
        #expect(try S3Location(uri: "s3://bucket/a/b/").prefix == "a/b")
        #expect(try S3Location(uri: "s3://bucket").key("latest.yml") == "latest.yml")
        #expect(try S3Location(uri: "s3://bucket/p").key("latest.yml") == "p/latest.yml")
        expectReleaseError(.usage) { () throws(ReleaseError) in try S3Location(uri: "https://bucket/p") }
        expectReleaseError(.usage) { () throws(ReleaseError) in try S3Location(uri: "s3://Bad_Bucket/p") }
    }
}
