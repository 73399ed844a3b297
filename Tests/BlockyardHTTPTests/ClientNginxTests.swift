import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// `blockyard update`'s client against a real nginx (the CDN/origin of the behaviour table),
/// with nginx's default `max_ranges` (multipart) and with `max_ranges 1` (a multi-range
/// request is answered with a 200 full body).
@Suite("update client against nginx", .serialized)
struct ClientNginxTests {
    static let size = 16
    static let variants = ["insert100", "overwrite1k", "delete4m", "append", "swap"]

    struct Wire: CustomStringConvertible {
        var artifactRequests = 0
        var artifactBytes = 0
        var ranges: [String] = []
        var statuses: [Int] = []
        var description: String { "\(artifactRequests) artifact requests, \(artifactBytes) bytes sent, statuses \(statuses)" }
    }

    static func wire(_ nginx: NginxServer, artifact: String, expecting: Int) -> Wire {
        var wire = Wire()
        for line in AccessLogLine.read(nginx, expecting: expecting) where line.path == "/" + artifact {
            wire.artifactRequests += 1
            wire.artifactBytes += line.bytesSent
            wire.ranges.append(line.range)
            wire.statuses.append(line.status)
        }
        return wire
    }

    @Test(arguments: [nil, 1] as [Int?])
    func updatesEveryBundleVariant(maxRanges: Int?) async throws {
        let old = VectorInputs.generate("bundle-7-\(Self.size)-base")!
        for variant in Self.variants {
            let new = VectorInputs.generate("bundle-7-\(Self.size)-\(variant)")!
            let fixture = try UpdateFixture(old: old, new: new)
            let nginx = try NginxServer(root: fixture.feedRoot, maxRanges: maxRanges)
            let report = try await UpdateClient(options: fixture.options(feed: nginx.baseURL)).run()
            #expect(report.status == "updated")
            #expect(report.method == "delta")
            #expect(fixture.outDigest() == fixture.sha512, "\(variant): rebuilt file differs")
            #expect(fixture.installedUnchanged)
            #expect(fixture.leftovers().isEmpty, "\(variant): left \(fixture.leftovers())")
            let plan = try #require(report.plan)
            #expect(plan.fetchBytes > 0 && plan.fetchBytes < new.count / 4, "\(variant): fetch \(plan.fetchBytes)")
            #expect(report.payloadBytes == plan.fetchBytes)
            #expect(report.reusedBytes == new.count - plan.fetchBytes)
            let wire = Self.wire(nginx, artifact: fixture.relativeURL, expecting: report.requests)
            // What nginx sent for the artifact: the payload plus headers and part framing
            // (and, with max_ranges 1, what left before the refused multi-range request was
            // abandoned), never the file.
            #expect(wire.artifactBytes >= plan.fetchBytes)
            let framing = 2048 * wire.artifactRequests + 160 * plan.fetchRanges
            if maxRanges == nil || plan.fetchRanges == 1 {
                #expect(wire.artifactBytes <= plan.fetchBytes + framing, "\(variant): \(wire)")
                #expect(!wire.statuses.contains(200))
            } else {
                #expect(wire.statuses.filter { $0 == 200 }.count == 1, "\(variant): \(wire)")
                #expect(report.download?.transport == "ranges")
                #expect(wire.artifactBytes < new.count / 2, "\(variant): \(wire)")
            }
            if maxRanges == nil && plan.fetchRanges > 1 { #expect(report.download?.transport == "multipart") }
            print("nginx max_ranges \(maxRanges.map(String.init) ?? "default") \(variant): payload \(report.payloadBytes) B, "
                  + "\(wire), whole exchange \(report.bytesFetched) body bytes in \(report.requests) requests")
        }
    }

    /// Many scattered changes and small requests: several requests on parallel connections,
    /// multipart with the default configuration, one range per request with max_ranges 1.
    @Test(arguments: [nil, 1] as [Int?])
    func fragmentedUpdateInParallel(maxRanges: Int?) async throws {
        let old = VectorInputs.generate("bundle-7-\(Self.size)-base")!
        var new = old
        for k in 0..<40 {
            let at = 100_000 + k * 391_123
            for i in 0..<1000 { new[at + i] ^= UInt8(truncatingIfNeeded: i &* 7 &+ k) }
        }
        let fixture = try UpdateFixture(old: old, new: new)
        let nginx = try NginxServer(root: fixture.feedRoot, maxRanges: maxRanges)
        var options = fixture.options(feed: nginx.baseURL)
        options.download.minimumRequestBytes = 128 << 10
        options.download.connections = 4
        let report = try await UpdateClient(options: options).run()
        #expect(fixture.outDigest() == fixture.sha512)
        let plan = try #require(report.plan)
        #expect(plan.fetchRanges >= 30)
        let wire = Self.wire(nginx, artifact: fixture.relativeURL, expecting: report.requests)
        let download = try #require(report.download)
        if maxRanges == nil {
            #expect(download.transport == "multipart")
            #expect(wire.artifactRequests >= 3 && wire.artifactRequests < plan.fetchRanges, "\(wire)")
            #expect(wire.artifactBytes <= plan.fetchBytes + 2048 * wire.artifactRequests + 160 * plan.fetchRanges)
        } else {
            #expect(download.transport == "ranges")
            // One refused multi-range probe, then one request per range.
            #expect(wire.artifactRequests == plan.fetchRanges + 1, "\(wire)")
        }
        #expect(download.rangesRequested >= plan.fetchRanges)
        print("fragmented, max_ranges \(maxRanges.map(String.init) ?? "default"): \(plan.fetchRanges) ranges, "
              + "\(plan.fetchBytes) B payload, \(wire)")
    }

    /// A Range header longer than the server accepts (nginx `large_client_header_buffers 4 1k`
    /// answers 400): the client halves the ranges per request until they fit.
    @Test func rangeHeaderTooLongForTheServer() async throws {
        let old = VectorInputs.generate("bundle-7-\(Self.size)-base")!
        var new = old
        for k in 0..<150 {
            let at = 20_000 + k * 110_000
            for i in 0..<100 { new[at + i] ^= 0x3C }
        }
        let fixture = try UpdateFixture(old: old, new: new)
        let nginx = try NginxServer(root: fixture.feedRoot, largeHeaderBuffer: "1k")
        let report = try await UpdateClient(options: fixture.options(feed: nginx.baseURL)).run()
        #expect(fixture.outDigest() == fixture.sha512)
        let plan = try #require(report.plan)
        #expect(plan.fetchRanges >= 100)
        let wire = Self.wire(nginx, artifact: fixture.relativeURL, expecting: report.requests)
        #expect(wire.statuses.contains(400))
        #expect(wire.statuses.filter { $0 == 206 }.count < plan.fetchRanges / 4, "\(wire)")
        #expect(report.download?.transport == "multipart")
    }

    /// An AppImage-style artifact: the blockmap is appended to it; one tail range request
    /// reads it, and the installed file (with its own tail) is chunked locally.
    @Test func embeddedBlockmap() async throws {
        let base = VectorInputs.generate("bundle-7-\(Self.size)-base")!
        var builder = BlockmapBuilder()
        base.withUnsafeBytes { builder.update($0) }
        let oldTail = BlockmapCodec.embeddedTail(builder.finalize().blockmap)
        let new = VectorInputs.generate("bundle-7-\(Self.size)-overwrite1k")!
        let fixture = try UpdateFixture(old: base + oldTail, new: new, name: "MyApp-2.0.0.AppImage", embedded: true)
        let nginx = try NginxServer(root: fixture.feedRoot)
        let report = try await UpdateClient(options: fixture.options(feed: nginx.baseURL)).run()
        #expect(fixture.outDigest() == fixture.sha512)
        #expect(report.method == "delta")
        let tail = fixture.published.count - new.count
        let wire = Self.wire(nginx, artifact: fixture.relativeURL, expecting: report.requests)
        #expect(wire.ranges.first == "bytes=\(fixture.published.count - tail)-\(fixture.published.count - 1)")
        #expect(!FileManager.default.fileExists(atPath: fixture.artifactPath + ".blockmap"))
        let plan = try #require(report.plan)
        #expect(plan.fetchBytes < 100_000 + tail)
        #expect(wire.artifactBytes < plan.fetchBytes + 8192)
    }

    /// No blockmap published: a plain full download (verified the same way).
    @Test func missingBlockmapMeansFullDownload() async throws {
        let new = VectorInputs.randomBytes(seed: 3, count: 3_000_000)
        let fixture = try UpdateFixture(old: VectorInputs.randomBytes(seed: 4, count: 1000), new: new, blockmap: false)
        let nginx = try NginxServer(root: fixture.feedRoot)
        let report = try await UpdateClient(options: fixture.options(feed: nginx.baseURL)).run()
        #expect(fixture.outDigest() == fixture.sha512)
        #expect(report.method == "full")
        #expect(report.payloadBytes == new.count)
        #expect(report.warnings.contains { $0.contains(".blockmap does not exist") })
    }

    /// `blockyard apply PLAN --source URL`: a plan made elsewhere, ranges fetched over HTTP.
    @Test func planAppliedFromURL() async throws {
        let old = VectorInputs.generate("bundle-7-\(Self.size)-base")!
        let new = VectorInputs.generate("bundle-7-\(Self.size)-swap")!
        let fixture = try UpdateFixture(old: old, new: new)
        let nginx = try NginxServer(root: fixture.feedRoot)
        let target = try BlockmapCodec.decodeGzip(FileInput.readAll(path: fixture.artifactPath + ".blockmap"))
        let local = try BlockmapGenerator.generate(path: fixture.installedPath)
        let plan = try DeltaPlanner.plan(target: target, seeds: [PlanSeedInput(path: fixture.installedPath, size: old.count,
                                                                               blockmap: local.blockmap)])
        let session = HTTPSession()
        let result = try await PlanDownload.run(plan: plan, url: URL(string: "\(nginx.baseURL)/\(fixture.relativeURL)")!,
                                                resourceSize: nil, expectedSHA512: ExpectedDigest.sha512(fixture.sha512),
                                                out: fixture.outPath, session: session)
        await session.shutdown()
        #expect(fixture.outDigest() == fixture.sha512)
        #expect(result.download.payloadBytes == plan.totals.fetchBytes)
        #expect(result.download.transport == "multipart")
        #expect(result.apply.statistics.bytesCopied == plan.totals.copyBytes)
        #expect(!fixture.partialExists)
    }
}
