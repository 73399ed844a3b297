import BlockyardCore
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// Publishing against a real S3 API (moto) with request authentication on, so every request's
/// SigV4 signature is checked by botocore's implementation. Moto rebuilds the signed URL from
/// its decoded form, so it cannot check keys with `+` or non-ASCII characters, nor `/` in query
/// parameters (boto3's own requests fail there too): these tests use keys and prefixes without
/// them; SigV4Tests covers that encoding against AWS's examples.
@Suite("S3 publishing against moto", .serialized)
struct S3PublishTests {
    let mib = 1 << 20

    func hex(_ data: Data) -> String { SHA2Hasher.hash(.sha256, Array(data)).hex }

    /// Every channel file in the bucket lists only objects that exist.
    func expectChannelFilesConsistent(_ client: S3Client, bucket: String, prefix directory: String,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let keys = Set(try client.listObjects(bucket: bucket, prefix: directory).map(\.key))
        let prefix = directory + "/"
        for key in keys where ReleaseLayout.channel(ofChannelFile: String(key.dropFirst(prefix.count))) != nil {
            let document = try ChannelDocument(bytes: Array(try client.getObject(bucket: bucket, key: key).body))
            for file in document.info.effectiveFiles {
                #expect(keys.contains(prefix + file.url), "\(key) lists \(file.url), which is not in the bucket", sourceLocation: sourceLocation)
                #expect(keys.contains(prefix + file.url + ".blockmap"), sourceLocation: sourceLocation)
            }
        }
    }

    /// moto with authentication on, a client with the publisher's credentials, an empty bucket
    /// `updates` and a scratch directory whose `site/` is the release directory.
    struct Fixture {
        let moto: MotoServer
        let credentials: AWSCredentials
        let client: S3Client
        let dir: TemporaryDirectory
        var site: String { dir.path("site") }

        init(_ label: String) throws {
            moto = try MotoServer()
            credentials = try moto.enableAuthentication()
            client = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials)
            try client.createBucket("updates")
            dir = try TemporaryDirectory(label)
        }

        /// `release create` of one generated artifact into `site/`.
        func release(_ version: String, _ name: String, size: Int, seed: UInt64, key: MetadataSigningKey? = nil) throws {
            let artifact = try dir.write(name, VectorInputs.randomBytes(seed: seed, count: size))
            _ = try ReleaseBuilder.create(ReleaseCreateOptions(version: version, artifacts: [artifact], outputDirectory: site, signingKey: key))
        }

        func publish(to destination: S3Location, partSize: Int = 5 << 20, force: Bool = false) throws(ReleaseError) -> PublishReport {
            try Publisher(client: client, options: PublishOptions(directory: site, destination: destination, partSize: partSize, force: force)).run()
        }
    }

    @Test func clientOperationsWithVerifiedSignatures() throws {
        let moto = try MotoServer()
        let credentials = try moto.enableAuthentication()
        let client = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials, maxAttempts: 1)
        try client.createBucket("ops")

        let key = "dir/a b_c-d~e.txt"
        try client.putObject(bucket: "ops", key: key, body: Data("hello".utf8),
                             headers: ["Content-Type": "text/plain", "Cache-Control": "no-cache", "x-amz-meta-sha256": "abc"])
        let head = try #require(try client.headObject(bucket: "ops", key: key))
        #expect(head.size == 5)
        #expect(head.contentType == "text/plain")
        #expect(head.cacheControl == "no-cache")
        #expect(head.metadata["sha256"] == "abc")
        #expect(try client.getObject(bucket: "ops", key: key).body == Data("hello".utf8))
        #expect(try client.headObject(bucket: "ops", key: "dir/missing") == nil)
        #expect(try client.listObjects(bucket: "ops", prefix: "dir").map(\.key) == [key])

        // Multipart: 5 MiB + 1 byte, completed and read back.
        let bytes = VectorInputs.randomBytes(seed: 1, count: 5 * mib + 1)
        let id = try client.createMultipartUpload(bucket: "ops", key: "big.bin", headers: ["Content-Type": "application/octet-stream"])
        #expect(try client.listMultipartUploads(bucket: "ops", prefix: "").map(\.uploadId) == [id])
        let e1 = try client.uploadPart(bucket: "ops", key: "big.bin", uploadId: id, number: 1, body: Data(bytes[0..<(5 * mib)]))
        let e2 = try client.uploadPart(bucket: "ops", key: "big.bin", uploadId: id, number: 2, body: Data(bytes[(5 * mib)...]))
        try client.completeMultipartUpload(bucket: "ops", key: "big.bin", uploadId: id, parts: [(1, e1), (2, e2)])
        #expect(try client.getObject(bucket: "ops", key: "big.bin").body == Data(bytes))
        #expect(try client.listMultipartUploads(bucket: "ops", prefix: "").isEmpty)

        // Aborted uploads leave nothing.
        let abandoned = try client.createMultipartUpload(bucket: "ops", key: "gone.bin")
        _ = try client.uploadPart(bucket: "ops", key: "gone.bin", uploadId: abandoned, number: 1, body: Data(bytes[0..<mib]))
        try client.abortMultipartUpload(bucket: "ops", key: "gone.bin", uploadId: abandoned)
        #expect(try client.listMultipartUploads(bucket: "ops", prefix: "").isEmpty)
        #expect(try client.headObject(bucket: "ops", key: "gone.bin") == nil)

        // A wrong secret is refused by the server's signature check.
        let forged = S3Client(endpoint: moto.endpoint, region: "us-east-1",
                              credentials: AWSCredentials(accessKeyId: credentials.accessKeyId, secretAccessKey: "wrong"), maxAttempts: 1)
        do {
            _ = try forged.headObject(bucket: "ops", key: key)
            Issue.record("a request signed with the wrong secret was accepted")
        } catch {
            #expect(error.status == 403)
        }
    }

    @Test func publishesALargeReleaseWithMultipartUploads() throws {
        let fixture = try Fixture("publish")
        let (client, dir, site) = (fixture.client, fixture.dir, fixture.site)
        let bigSize = 101 * mib + 123
        let big = try dir.write("MyApp Setup 1.0.0.exe", VectorInputs.randomBytes(seed: 7, count: bigSize))
        let zip = try dir.write("MyApp-1.0.0-mac.zip", VectorInputs.randomBytes(seed: 8, count: 300_000))
        let key = MetadataSigningKey.generate()
        _ = try ReleaseBuilder.create(ReleaseCreateOptions(version: "1.0.0", artifacts: [big, zip], outputDirectory: site, signingKey: key))
        let destination = try S3Location(uri: "s3://updates/myapp")
        let publisher = Publisher(client: client, options: PublishOptions(directory: site, destination: destination, partSize: 8 * mib, jobs: 4))
        let order = Recorder()
        let report = try publisher.run(onItem: { order.append($0.path) })

        let local = try PublishPlan.make(directory: site, destination: destination)
        #expect(report.uploadedObjects == local.count)
        #expect(report.skippedObjects == 0)
        let bigItem = try #require(report.items.first { $0.path == "releases/1.0.0/MyApp Setup 1.0.0.exe" })
        #expect(bigItem.parts == 13)
        // Immutable files first, channel files (each after its signature) last.
        let paths = order.items
        let lastArtifact = paths.lastIndex { $0.hasPrefix("releases/") && !$0.hasSuffix("release.json") && !$0.hasSuffix("SHA256SUMS") }!
        let firstChannel = paths.firstIndex { !$0.contains("/") }!
        #expect(lastArtifact < firstChannel)
        #expect(paths.firstIndex(of: "latest.yml.sig")! + 1 == paths.firstIndex(of: "latest.yml")!)

        let listed = try client.listObjects(bucket: "updates", prefix: "myapp")
        #expect(Set(listed.map(\.key)) == Set(local.map(\.key)))
        let manifest = try #require(try ReleaseManifest.load(root: site, version: "1.0.0"))
        let bigKey = "myapp/releases/1.0.0/MyApp Setup 1.0.0.exe"
        let head = try #require(try client.headObject(bucket: "updates", key: bigKey))
        #expect(head.size == bigSize)
        #expect(head.cacheControl == "public, max-age=31536000, immutable")
        #expect(head.contentType == "application/vnd.microsoft.portable-executable")
        #expect(head.metadata["sha256"] == manifest.artifacts[0].sha256)
        let fetched = try client.getObject(bucket: "updates", key: bigKey)
        #expect(fetched.body.count == bigSize)
        #expect(hex(fetched.body) == manifest.artifacts[0].sha256)
        let blockmapHead = try #require(try client.headObject(bucket: "updates", key: bigKey + ".blockmap"))
        #expect(blockmapHead.contentType == "application/octet-stream")
        #expect(blockmapHead.cacheControl == "public, max-age=31536000, immutable")

        let channelHead = try #require(try client.headObject(bucket: "updates", key: "myapp/latest.yml"))
        #expect(channelHead.cacheControl == "no-cache")
        #expect(channelHead.contentType?.hasPrefix("text/yaml") == true)
        let channel = try client.getObject(bucket: "updates", key: "myapp/latest.yml").body
        #expect(Array(channel) == (try FileInput.readAll(path: "\(site)/latest.yml")))
        let sig = String(decoding: try client.getObject(bucket: "updates", key: "myapp/latest.yml.sig").body, as: UTF8.self)
        #expect(try MetadataVerifier(publicKey: key.publicKey).verify(name: "latest.yml", content: Array(channel), signature: sig, lastSeen: nil).info.version == "1.0.0")
        try expectChannelFilesConsistent(client, bucket: "updates", prefix: "myapp")

        // Publishing again uploads nothing.
        let again = try publisher.run()
        #expect(again.uploadedObjects == 0)
        #expect(again.skippedObjects == local.count)

        // A dry run of the next version reports and changes nothing.
        _ = try ReleaseBuilder.create(ReleaseCreateOptions(version: "1.1.0", artifacts: [try dir.write("MyApp-1.1.0.exe", VectorInputs.randomBytes(seed: 9, count: 1000))],
                                                           outputDirectory: site, signingKey: key))
        let dry = try Publisher(client: client, options: PublishOptions(directory: site, destination: destination, partSize: 8 * mib, dryRun: true)).run()
        #expect(dry.dryRun)
        #expect(dry.items.first { $0.path == "releases/1.1.0/MyApp-1.1.0.exe" }?.action == .upload)
        #expect(dry.items.first { $0.path == "latest.yml" }?.action == .replace)
        #expect(dry.items.first { $0.path == "releases/1.0.0/MyApp Setup 1.0.0.exe" }?.action == .skip)
        #expect(try client.listObjects(bucket: "updates", prefix: "myapp").map(\.key) == listed.map(\.key))
        #expect(try client.getObject(bucket: "updates", key: "myapp/latest.yml").body == channel)
    }

    @Test func failedPartAbortsTheUploadAndChannelFilesStayConsistent() throws {
        let fixture = try Fixture("publish-fail")
        let (client, site, moto, credentials) = (fixture.client, fixture.site, fixture.moto, fixture.credentials)
        let destination = S3Location(bucket: "updates", prefix: "app")
        try fixture.release("1.0.0", "App-1.0.0.exe", size: 10_000, seed: 1)
        _ = try fixture.publish(to: destination)
        try fixture.release("1.1.0", "App-1.1.0.exe", size: 12 * mib, seed: 2)
        let failing = FailingTransport(failing: "partNumber=2")
        let broken = S3Client(endpoint: moto.endpoint, region: "us-east-1", credentials: credentials, transport: failing, retryBaseDelay: 0.01)
        do {
            _ = try Publisher(client: broken, options: PublishOptions(directory: site, destination: destination, partSize: 5 * mib, jobs: 2)).run()
            Issue.record("the publish succeeded although part 2 always failed")
        } catch {
            #expect(error.kind == .io)
            #expect(error.message.contains("aborted"))
        }
        #expect(failing.failures == 4)   // tried 4 times
        #expect(try client.listMultipartUploads(bucket: "updates", prefix: "app").isEmpty)
        #expect(try client.headObject(bucket: "updates", key: "app/releases/1.1.0/App-1.1.0.exe") == nil)
        let latest = try ChannelDocument(bytes: Array(try client.getObject(bucket: "updates", key: "app/latest.yml").body))
        #expect(latest.info.version == "1.0.0")
        try expectChannelFilesConsistent(client, bucket: "updates", prefix: "app")

        // The rerun uploads what is missing and then the channel files.
        let rerun = try fixture.publish(to: destination)
        #expect(rerun.items.first { $0.path == "releases/1.0.0/App-1.0.0.exe" }?.action == .skip)
        #expect(rerun.items.first { $0.path == "releases/1.1.0/App-1.1.0.exe" }?.parts == 3)
        let updated = try ChannelDocument(bytes: Array(try client.getObject(bucket: "updates", key: "app/latest.yml").body))
        #expect(updated.info.version == "1.1.0")
        try expectChannelFilesConsistent(client, bucket: "updates", prefix: "app")
    }

    @Test func conflictsAndDanglingReferencesUploadNothing() throws {
        let fixture = try Fixture("publish-conflict")
        let (client, site, dir) = (fixture.client, fixture.site, fixture.dir)
        let destination = S3Location(bucket: "updates", prefix: "")
        try fixture.release("1.0.0", "App-1.0.0.exe", size: 10_000, seed: 1)
        _ = try fixture.publish(to: destination)
        let before = try client.listObjects(bucket: "updates", prefix: "")

        // The local artifact now differs from the published one: refused before any upload.
        try Data(VectorInputs.randomBytes(seed: 2, count: 10_000)).write(to: URL(fileURLWithPath: "\(site)/releases/1.0.0/App-1.0.0.exe"))
        try Data("changed".utf8).write(to: URL(fileURLWithPath: "\(site)/releases/1.0.0/SHA256SUMS"))
        do {
            _ = try fixture.publish(to: destination)
            Issue.record("an immutable artifact was replaced")
        } catch {
            #expect(error.kind == .cannotCreate)
            #expect(error.message.contains("releases/1.0.0/App-1.0.0.exe"))
        }
        #expect(try client.listObjects(bucket: "updates", prefix: "") == before)
        let forced = try fixture.publish(to: destination, force: true)
        #expect(forced.items.first { $0.path == "releases/1.0.0/App-1.0.0.exe" }?.action == .replace)

        // A channel file pointing at a file that exists nowhere: nothing is uploaded.
        let lonely = dir.path("lonely")
        try FileManager.default.createDirectory(atPath: lonely, withIntermediateDirectories: true)
        let info = UpdateInfo(version: "9.9.9", files: [UpdateFileInfo(url: "releases/9.9.9/App.exe", sha512: "x", size: 1)])
        try Data(ChannelFileYAML.encode(info).utf8).write(to: URL(fileURLWithPath: "\(lonely)/latest.yml"))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: "\(lonely)/README.txt"))
        do {
            _ = try Publisher(client: client, options: PublishOptions(directory: lonely, destination: S3Location(bucket: "updates", prefix: "lonely"))).run()
            Issue.record("a channel file pointing at a missing artifact was published")
        } catch {
            #expect(error.kind == .checkFailed)
        }
        #expect(try client.listObjects(bucket: "updates", prefix: "lonely").isEmpty)
    }

    @Test func planOrderHeadersAndHiddenFiles() throws {
        let dir = try TemporaryDirectory("plan")
        let site = dir.path("site")
        _ = try ReleaseBuilder.create(ReleaseCreateOptions(version: "2.0.0", artifacts: [try dir.write("A-2.0.0.exe", [1, 2, 3])],
                                                           outputDirectory: site, signingKey: MetadataSigningKey.generate()))
        try Data([1]).write(to: URL(fileURLWithPath: "\(site)/.latest.yml.blockyard-tmp-abc123"))
        let items = try PublishPlan.make(directory: site, destination: S3Location(bucket: "b", prefix: "p/q"))
        #expect(items.map(\.path) == [
            "releases/2.0.0/A-2.0.0.exe", "releases/2.0.0/A-2.0.0.exe.blockmap",
            "releases/2.0.0/A-2.0.0.exe.byindex", "releases/2.0.0/A-2.0.0.exe.bypack",
            "releases/2.0.0/SHA256SUMS", "releases/2.0.0/release.json",
            "alpha.yml.sig", "alpha.yml", "beta.yml.sig", "beta.yml", "latest.yml.sig", "latest.yml",
        ])
        #expect(items[0].key == "p/q/releases/2.0.0/A-2.0.0.exe")
        #expect(items.filter { $0.path.hasSuffix(".byindex") || $0.path.hasSuffix(".bypack") }
            .allSatisfy { $0.kind == .artifact && $0.contentType == "application/octet-stream" })
        #expect(items[0].sha256 == SHA2Hasher.hash(.sha256, [1, 2, 3]).hex)
        #expect(items.filter { $0.kind == .artifact }.allSatisfy { $0.cacheControl == PublishPlan.immutableCacheControl })
        #expect(items.filter { $0.kind != .artifact }.allSatisfy { $0.cacheControl == "no-cache" })
        #expect(items.first { $0.path == "releases/2.0.0/release.json" }?.contentType == "application/json")
    }
}

/// Collects strings from any thread.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func append(_ item: String) { lock.lock(); list.append(item); lock.unlock() }
    var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
}

/// Passes requests to URLSession, except that requests whose URL contains `failing` get an
/// HTTP 500 InternalError (which the client retries).
final class FailingTransport: HTTPTransport, @unchecked Sendable {
    private let inner = URLSessionTransport()
    private let pattern: String
    private let lock = NSLock()
    private var count = 0

    init(failing pattern: String) { self.pattern = pattern }

    var failures: Int { lock.lock(); defer { lock.unlock() }; return count }

    func send(_ request: HTTPRequest) throws(HTTPTransportError) -> HTTPResponse {
        if request.url.absoluteString.contains(pattern) {
            lock.lock(); count += 1; lock.unlock()
            return HTTPResponse(status: 500, headers: [:], body: Data("<Error><Code>InternalError</Code><Message>injected</Message></Error>".utf8))
        }
        return try inner.send(request)
    }
}
