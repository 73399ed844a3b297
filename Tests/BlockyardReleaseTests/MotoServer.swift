import BlockyardCore
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// moto (``MotoProcess``) with what the publishing library tests need besides: IAM users and
/// SigV4 authentication.
final class MotoServer: @unchecked Sendable {
    private let moto: MotoProcess
    var endpoint: URL { moto.endpoint }

    init() throws {
        do {
            moto = try MotoProcess()
        } catch let error as MotoProcess.Unavailable {
            throw MotoUnavailable(message: error.description)
        }
    }

    func stop() { moto.stop() }

    /// Creates an IAM user allowed `s3:*` and turns on moto's request authentication: from then
    /// on every request needs a valid SigV4 signature by that user's key (moto recomputes each
    /// signature with botocore and answers 403 SignatureDoesNotMatch otherwise).
    func enableAuthentication() throws -> AWSCredentials {
        let bootstrap = AWSCredentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "bootstrap")
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#
        _ = try iam(["Action": "CreateUser", "UserName": "publisher"], bootstrap)
        _ = try iam(["Action": "PutUserPolicy", "UserName": "publisher", "PolicyName": "s3", "PolicyDocument": policy], bootstrap)
        let reply = try iam(["Action": "CreateAccessKey", "UserName": "publisher"], bootstrap)
        let id = try #require(Self.element("AccessKeyId", in: reply))
        let secret = try #require(Self.element("SecretAccessKey", in: reply))
        let transport = URLSessionTransport(connections: 1)
        let enabled = try transport.send(HTTPRequest(method: "POST", url: endpoint.appendingPathComponent("moto-api/reset-auth"),
                                                     headers: ["Content-Type": "text/plain"], body: Data("0".utf8)))
        try #require(enabled.status == 200, "moto refused to enable authentication")
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret)
    }

    private func iam(_ parameters: [String: String], _ credentials: AWSCredentials) throws -> String {
        var form = parameters
        form["Version"] = "2010-05-08"
        let body = Data(form.sorted { $0.key < $1.key }.map { "\($0.key)=\(SigV4Signer.uriEncode($0.value))" }.joined(separator: "&").utf8)
        var request = HTTPRequest(method: "POST", url: endpoint.appendingPathComponent("/"),
                                  headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"], body: body)
        SigV4Signer(credentials: credentials, region: "us-east-1", service: "iam")
            .sign(&request, payloadHash: SHA2Hasher.hash(.sha256, Array(body)).hex, date: Date())
        let reply = try URLSessionTransport(connections: 1).send(request)
        let text = String(decoding: reply.body, as: UTF8.self)
        try #require(reply.status == 200, "IAM \(parameters["Action"] ?? ""): HTTP \(reply.status) \(text)")
        return text
    }

    private static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}

struct MotoUnavailable: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
