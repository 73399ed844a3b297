import BlockyardCore
import BlockyardTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `blockyard publish` against a real S3 API server (moto, `pip install 'moto[server]'`,
/// installed by tools/setup) that the test starts on 127.0.0.1. The bucket is public-read so
/// the test can look at it with plain HTTP, the way a CDN or an update client would.
@Suite("blockyard publish", .serialized)
struct PublishCommandTests {
    final class Moto {
        private let moto: MotoProcess
        var endpoint: String { moto.endpoint.absoluteString }

        init() throws {
            moto = try MotoProcess()
        }

        func publicBucket(_ name: String) throws {
            try #require(try PublishCommandTests.http("PUT", "\(endpoint)/\(name)", headers: ["x-amz-acl": "public-read"]).status == 200)
        }

        func http(_ method: String, _ path: String) throws -> (status: Int, headers: [String: String], body: Data) {
            try PublishCommandTests.http(method, endpoint + path)
        }

        /// Keys under `prefix` (anonymous ListObjectsV2).
        func keys(_ bucket: String, prefix: String) throws -> [String] {
            let body = String(decoding: try http("GET", "/\(bucket)?list-type=2&prefix=\(prefix)").body, as: UTF8.self)
            return body.components(separatedBy: "<Key>").dropFirst().map { String($0.prefix { $0 != "<" }) }
                .map { $0.replacingOccurrences(of: "&amp;", with: "&") }
        }
    }

    static func http(_ method: String, _ url: String, headers: [String: String] = [:]) throws -> (status: Int, headers: [String: String], body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        if method == "PUT" { request.httpBody = Data() }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, [String: String], Data)?
        nonisolated(unsafe) var failure: Error?
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse {
                var fields: [String: String] = [:]
                for (k, v) in http.allHeaderFields { if let k = k as? String, let v = v as? String { fields[k.lowercased()] = v } }
                result = (http.statusCode, fields, data ?? Data())
            }
            failure = error
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        let r = try #require(result)
        return (r.0, r.1, r.2)
    }

    let credentials = ["AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "Sup3rSecretValueNeverPrinted0000000000000",
                       "AWS_SESSION_TOKEN": "SessionTokenNeverPrinted", "BLOCKYARD_NO_PROGRESS": "1"]

    func release(_ dir: TemporaryDirectory, _ version: String, _ artifacts: [(String, Int)], seed: UInt64) throws {
        for (index, (name, size)) in artifacts.enumerated() {
            try dir.write(name, VectorInputs.randomBytes(seed: seed + UInt64(index), count: size))
        }
        let out = try CommandRunner.run(["release", "create", "--version", version, "--out", "site"] + artifacts.map(\.0),
                                        environment: credentials, currentDirectory: dir.url.path)
        try #require(out.status == 0, "\(out.stderr)")
    }

    /// Every channel file in the bucket lists only objects that are there.
    func expectConsistent(_ moto: Moto, bucket: String, prefix: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let keys = Set(try moto.keys(bucket, prefix: prefix))
        for key in keys where key.hasSuffix(".yml") && !key.dropFirst(prefix.count).contains("/") {
            let text = String(decoding: try moto.http("GET", "/\(bucket)/\(key)").body, as: UTF8.self)
            for line in text.split(separator: "\n") where line.contains("url: ") || line.hasPrefix("path: ") {
                let url = line.split(separator: ": ", maxSplits: 1)[1].trimmingCharacters(in: CharacterSet(charactersIn: "' "))
                #expect(keys.contains(prefix + url), "\(key) lists \(url), which is not in the bucket", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func publishDryRunRerunAndHeaders() throws {
        let moto = try Moto()
        try moto.publicBucket("updates")
        let dir = try TemporaryDirectory("publish-cli")
        try release(dir, "1.0.0", [("MyApp-Setup-1.0.0.exe", 300_000), ("MyApp-1.0.0-mac.zip", 200_000)], seed: 1)
        let args = ["publish", "site", "s3://updates/app", "--endpoint", moto.endpoint, "--region", "us-east-1", "--part-size", "5MiB"]

        let dry = try CommandRunner.run(args + ["--dry-run", "--json"], environment: credentials, currentDirectory: dir.url.path)
        #expect(dry.status == 0, "\(dry.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        #expect(plan["dryRun"] as? Bool == true)
        #expect((plan["items"] as? [[String: Any]])?.allSatisfy { $0["action"] as? String == "upload" } == true)
        #expect(try moto.keys("updates", prefix: "app/").isEmpty)

        let real = try CommandRunner.run(args, environment: credentials, currentDirectory: dir.url.path)
        #expect(real.status == 0, "\(real.stderr)")
        // 2 artifacts × (file, blockmap, index, pack), SHA256SUMS, release.json, 6 channel files.
        #expect(real.stdout.contains("uploaded 16 objects"))
        let lines = real.stdout.split(separator: "\n")
        #expect(lines.lastIndex { $0.contains("releases/1.0.0/MyApp-Setup-1.0.0.exe") }! < lines.firstIndex { $0.contains("app/latest.yml") }!)
        for output in [dry, real] {
            #expect(!(output.stdout + output.stderr).contains(credentials["AWS_SECRET_ACCESS_KEY"]!))
            #expect(!(output.stdout + output.stderr).contains(credentials["AWS_SESSION_TOKEN"]!))
        }

        let channel = try moto.http("GET", "/updates/app/latest.yml")
        #expect(channel.status == 200)
        #expect(channel.body == (try Data(contentsOf: URL(fileURLWithPath: dir.path("site/latest.yml")))))
        #expect(channel.headers["cache-control"] == "no-cache")
        let artifact = try moto.http("HEAD", "/updates/app/releases/1.0.0/MyApp-Setup-1.0.0.exe")
        #expect(artifact.headers["cache-control"] == "public, max-age=31536000, immutable")
        #expect(artifact.headers["content-length"] == "300000")
        let blockmap = try moto.http("GET", "/updates/app/releases/1.0.0/MyApp-Setup-1.0.0.exe.blockmap")
        #expect(blockmap.body.prefix(2) == Data([0x1F, 0x8B]))
        #expect(blockmap.headers["content-encoding"] == nil)
        // The delivery files are published as immutable artifacts, byte for byte.
        let pack = try moto.http("GET", "/updates/app/releases/1.0.0/MyApp-Setup-1.0.0.exe.bypack")
        #expect(pack.status == 200 && pack.headers["cache-control"] == "public, max-age=31536000, immutable")
        #expect(pack.body == (try Data(contentsOf: URL(fileURLWithPath: dir.path("site/releases/1.0.0/MyApp-Setup-1.0.0.exe.bypack")))))
        try expectConsistent(moto, bucket: "updates", prefix: "app/")

        let again = try CommandRunner.run(args + ["--json"], environment: credentials, currentDirectory: dir.url.path)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(report["uploadedObjects"] as? Int == 0)
        #expect(report["skippedObjects"] as? Int == 16)
    }

    @Test func killedPublishLeavesNoChannelFilePointingAtMissingObjects() throws {
        let moto = try Moto()
        try moto.publicBucket("updates")
        let dir = try TemporaryDirectory("publish-kill")
        try release(dir, "1.0.0", [("MyApp-Setup-1.0.0.exe", 100_000)], seed: 10)
        let args = ["publish", "site", "s3://updates/app", "--endpoint", moto.endpoint, "--part-size", "5MiB", "--jobs", "1"]
        #expect(try CommandRunner.run(args, environment: credentials, currentDirectory: dir.url.path).status == 0)
        let published = try moto.http("GET", "/updates/app/latest.yml").body

        // 1.1.0 has a > 100 MiB installer; the publish is killed while its parts are going up.
        try release(dir, "1.1.0", [("MyApp-Setup-1.1.0.exe", 101 << 20)], seed: 11)
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(credentials) { _, new in new }
        process.currentDirectoryURL = dir.url
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline {
            let uploads = String(decoding: try moto.http("GET", "/updates?uploads").body, as: UTF8.self)
            if uploads.contains("<Upload>") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(process.isRunning, "the publish finished before it could be interrupted")
        Thread.sleep(forTimeInterval: 0.3)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        #expect(try moto.http("GET", "/updates/app/latest.yml").body == published)
        #expect(try moto.http("HEAD", "/updates/app/releases/1.1.0/MyApp-Setup-1.1.0.exe").status == 404)
        try expectConsistent(moto, bucket: "updates", prefix: "app/")

        // Running it again finishes the job and cleans up the abandoned upload.
        let rerun = try CommandRunner.run(args, environment: credentials, currentDirectory: dir.url.path)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("aborted 1 incomplete upload"))
        #expect(rerun.stdout.contains("skip    app/releases/1.0.0/MyApp-Setup-1.0.0.exe"))
        #expect(rerun.stdout.contains("21 parts"))
        #expect(!String(decoding: try moto.http("GET", "/updates?uploads").body, as: UTF8.self).contains("<Upload>"))
        let big = try moto.http("GET", "/updates/app/releases/1.1.0/MyApp-Setup-1.1.0.exe")
        #expect(big.body.count == 101 << 20)
        let sums = String(decoding: try Data(contentsOf: URL(fileURLWithPath: dir.path("site/releases/1.1.0/SHA256SUMS"))), as: UTF8.self)
        #expect(sums.contains("\(SHA2Hasher.hash(.sha256, Array(big.body)).hex)  MyApp-Setup-1.1.0.exe\n"))
        #expect(String(decoding: try moto.http("GET", "/updates/app/latest.yml").body, as: UTF8.self).hasPrefix("version: 1.1.0\n"))
        try expectConsistent(moto, bucket: "updates", prefix: "app/")
    }

    @Test func credentialAndUsageErrors() throws {
        let dir = try TemporaryDirectory("publish-errors")
        try release(dir, "1.0.0", [("A-1.0.0.exe", 1000)], seed: 20)
        let noCredentials = try CommandRunner.run(["publish", "site", "s3://updates/app", "--endpoint", "http://127.0.0.1:9"],
                                                  environment: ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": dir.url.path,
                                                                "AWS_SHARED_CREDENTIALS_FILE": dir.path("none")],
                                                  currentDirectory: dir.url.path)
        #expect(noCredentials.status == 64)
        #expect(noCredentials.stderr.contains("no AWS credentials"))
        // Nothing listens on port 9: an I/O error, and the secret is not in it.
        let unreachable = try CommandRunner.run(["publish", "site", "s3://updates/app", "--endpoint", "http://127.0.0.1:9"],
                                                environment: credentials, currentDirectory: dir.url.path)
        #expect(unreachable.status == 74)
        #expect(!unreachable.stderr.contains(credentials["AWS_SECRET_ACCESS_KEY"]!))
        #expect(try CommandRunner.run(["publish", "site", "bucket/app"], environment: credentials, currentDirectory: dir.url.path).status == 64)
        #expect(try CommandRunner.run(["publish", "site", "s3://updates/app", "--part-size", "1MiB"], environment: credentials,
                                      currentDirectory: dir.url.path).status == 64)
        #expect(try CommandRunner.run(["publish", "missing", "s3://updates/app", "--endpoint", "http://127.0.0.1:9"], environment: credentials,
                                      currentDirectory: dir.url.path).status == 66)
    }
}
