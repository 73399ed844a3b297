import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// The delivery path of the update client (index descent + pack ranges) against nginx and a
/// scripted server: byte-exact results, fewer bytes than the blockmap path, and every broken
/// delivery file ending in the blockmap path with the right file and a warning.
@Suite("update client: delivery index and pack", .serialized)
struct ClientDeliveryTests {
    /// Text-like bytes (compress 3–5× with zstd).
    static func text(seed: UInt64, count: Int) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let words = (0 ..< 64).map { i in (0 ..< 2 + i % 9).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 26) } }
        var out: [UInt8] = []
        out.reserveCapacity(count + 16)
        while out.count < count {
            out += words[Int(rng.next() % 64)]
            out.append(rng.next() % 11 == 0 ? 10 : 32)
        }
        return Array(out.prefix(count))
    }

    /// Compressible and random regions of 256 KiB, alternating.
    static func mixed(seed: UInt64, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var k: UInt64 = 0
        while out.count < count {
            let n = min(256 << 10, count - out.count)
            out += k % 2 == 0 ? text(seed: seed &+ k, count: n) : VectorInputs.randomBytes(seed: seed &+ k, count: n)
            k += 1
        }
        return out
    }

    /// Replace, insert or delete up to `maxLength` random bytes at a random position.
    static func edit(_ input: [UInt8], rng: inout SplitMix64, maxLength: Int) -> [UInt8] {
        var out = input
        let position = Int(rng.next() % UInt64(out.count))
        let bytes = (0 ..< 1 + Int(rng.next() % UInt64(maxLength))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        switch rng.next() % 3 {
        case 0: out.replaceSubrange(position ..< min(out.count, position + bytes.count), with: bytes)
        case 1: out.insert(contentsOf: bytes, at: position)
        default: out.removeSubrange(position ..< min(out.count, position + bytes.count))
        }
        return out
    }

    static func run(_ fixture: UpdateFixture, feed: String, delivery: Bool = true) async throws -> UpdateReport {
        var options = fixture.options(feed: feed)
        options.delivery = delivery
        return try await UpdateClient(options: options).run()
    }

    @Test(arguments: [nil, 1] as [Int?])
    func randomEditsAreByteExact(maxRanges: Int?) async throws {
        var rng = SplitMix64(seed: maxRanges == nil ? 61 : 62)
        for round in 0 ..< 3 {
            let old = Self.mixed(seed: UInt64(round) &* 7 &+ 1, count: 3_000_000 + Int(rng.next() % 500_000))
            var new = old
            for _ in 0 ... round { new = Self.edit(new, rng: &rng, maxLength: round == 1 ? 200_000 : 2_000) }
            let fixture = try UpdateFixture(old: old, new: new, delivery: true)
            let nginx = try NginxServer(root: fixture.feedRoot, maxRanges: maxRanges)
            let report = try await Self.run(fixture, feed: nginx.baseURL)
            #expect(report.method == "delivery", "\(report.warnings)")
            #expect(report.warnings.isEmpty)
            #expect(fixture.outDigest() == fixture.sha512, "round \(round)")
            #expect(fixture.installedUnchanged)
            #expect(fixture.leftovers().isEmpty, "left \(fixture.leftovers())")
            let delivery = try #require(report.delivery)
            #expect(delivery.copiedBytes + delivery.unpackedBytes == new.count)
            #expect(report.reusedBytes == delivery.copiedBytes)
            #expect(delivery.copiedBytes > new.count / 2)
            // The artifact itself is never requested.
            #expect(!nginx.logLines().contains { $0.contains(fixture.relativeURL + " ") })
            print("delivery max_ranges \(maxRanges.map(String.init) ?? "default") round \(round): index \(delivery.indexBytes) B in \(delivery.indexRounds) rounds, pack \(delivery.packBytes) B in \(delivery.packRanges) ranges, \(report.bytesFetched) B received in \(report.requests) requests")
        }
    }

    @Test("a small edit and a compressible file cost fewer bytes than the blockmap path")
    func fewerBytesThanTheBlockmapPath() async throws {
        // Large enough that the blockmap (which grows with the file) outweighs the index
        // descent (which grows with the tree's depth): 24 MiB, ~1500 chunks.
        let random = VectorInputs.randomBytes(seed: 3, count: 24 << 20)
        var smallEdit = random
        smallEdit.replaceSubrange(12_000_000 ..< 12_000_100, with: [UInt8](repeating: 9, count: 100))
        let text = Self.text(seed: 5, count: 4 << 20)
        var rewritten = text
        rewritten.replaceSubrange(1_000_000 ..< 2_000_000, with: Self.text(seed: 6, count: 1_000_000))
        for (name, old, new) in [("random, 100 B edit", random, smallEdit), ("text, 1 MB rewritten", text, rewritten)] {
            let fixture = try UpdateFixture(old: old, new: new, delivery: true)
            let nginx = try NginxServer(root: fixture.feedRoot)
            let viaDelivery = try await Self.run(fixture, feed: nginx.baseURL)
            #expect(viaDelivery.method == "delivery")
            #expect(fixture.outDigest() == fixture.sha512)
            try FileManager.default.removeItem(atPath: fixture.outPath)
            let viaBlockmap = try await Self.run(fixture, feed: nginx.baseURL, delivery: false)
            #expect(viaBlockmap.method == "delta")
            #expect(fixture.outDigest() == fixture.sha512)
            #expect(viaDelivery.bytesFetched < viaBlockmap.bytesFetched,
                    "\(name): delivery \(viaDelivery.bytesFetched), blockmap \(viaBlockmap.bytesFetched)")
            print("\(name): delivery \(viaDelivery.bytesFetched) B (index \(viaDelivery.delivery?.indexBytes ?? 0), pack \(viaDelivery.delivery?.packBytes ?? 0)), blockmap path \(viaBlockmap.bytesFetched) B")
        }
    }

    @Test("first install: an empty installed file gets the whole pack in one request")
    func firstInstall() async throws {
        let new = Self.mixed(seed: 9, count: 2_500_000)
        let fixture = try UpdateFixture(old: [], new: new, delivery: true)
        let nginx = try NginxServer(root: fixture.feedRoot)
        let report = try await Self.run(fixture, feed: nginx.baseURL)
        #expect(report.method == "delivery")
        #expect(fixture.outDigest() == fixture.sha512)
        let delivery = try #require(report.delivery)
        #expect(delivery.firstInstall)
        #expect(delivery.copiedBytes == 0)
        let packSize = try #require(FileManager.default.attributesOfItem(atPath: fixture.artifactPath + ".bypack")[.size] as? Int)
        #expect(delivery.packBytes == packSize)
        #expect(packSize < new.count * 85 / 100, "half the file compresses")
        #expect(report.bytesFetched < new.count * 85 / 100)
        let packRequests = nginx.logLines().filter { $0.contains(fixture.relativeURL + ".bypack ") }
        #expect(packRequests.count == 1, "\(packRequests)")
        #expect(fixture.leftovers().isEmpty)
    }

    @Test("in place, already the new version: nothing downloaded but the first index bytes")
    func inPlaceUpToDate() async throws {
        let new = Self.mixed(seed: 10, count: 1_000_000)
        let fixture = try UpdateFixture(old: new, new: new, delivery: true)
        let nginx = try NginxServer(root: fixture.feedRoot)
        var options = fixture.options(feed: nginx.baseURL)
        options.out = fixture.installedPath
        let report = try await UpdateClient(options: options).run()
        #expect(report.status == "up-to-date")
        #expect(fixture.installedUnchanged)
    }

    enum Damage: String, CaseIterable, Sendable {
        case truncatedIndex, flippedNodeRecord, flippedLeafHash, flippedPack, wrongRoot, packMissing, indexMissing
    }

    @Test(arguments: Damage.allCases)
    func brokenDeliveryFilesFallBackToTheBlockmap(damage: Damage) async throws {
        let old = Self.mixed(seed: 20, count: 2_000_000)
        var new = old
        new.replaceSubrange(1_000_000 ..< 1_050_000, with: VectorInputs.randomBytes(seed: 21, count: 70_000))
        let fixture = try UpdateFixture(old: old, new: new, delivery: true)
        let indexPath = fixture.artifactPath + ".byindex", packPath = fixture.artifactPath + ".bypack"
        var index = Array(try Data(contentsOf: URL(fileURLWithPath: indexPath)))
        var pack = Array(try Data(contentsOf: URL(fileURLWithPath: packPath)))
        let header = try DeliveryDescent.header(index)
        switch damage {
        case .truncatedIndex:
            index.removeLast(64 * 3)
        case .flippedNodeRecord:
            // The first record of level 1: every descent opens the root's children.
            index[DeliveryIndexCodec.recordOffset(levelCounts: header.levelCounts, level: 1, index: 0) + 40] ^= 0x01
        case .flippedLeafHash:
            // Every leaf's hash: whichever leaves the descent reads, one is wrong.
            let first = DeliveryIndexCodec.recordOffset(levelCounts: header.levelCounts, level: header.levelCounts.count, index: 0)
            for leaf in 0 ..< header.leafCount { index[first + 64 * leaf + 5] ^= 0x80 }
        case .flippedPack:
            for i in stride(from: 100, to: pack.count, by: 4096) { pack[i] ^= 0x40 }
        case .wrongRoot:
            let channel = fixture.feedRoot + "/latest-linux.yml"
            let text = try String(contentsOfFile: channel, encoding: .utf8)
            let wrong = DeliveryHash.sha256([7]).hex
            try text.replacingOccurrences(of: header.rootHash.hex, with: wrong).write(toFile: channel, atomically: true, encoding: .utf8)
        case .packMissing:
            try FileManager.default.removeItem(atPath: packPath)
        case .indexMissing:
            try FileManager.default.removeItem(atPath: indexPath)
        }
        if damage != .packMissing && damage != .indexMissing {
            try Data(index).write(to: URL(fileURLWithPath: indexPath))
            try Data(pack).write(to: URL(fileURLWithPath: packPath))
        }
        let nginx = try NginxServer(root: fixture.feedRoot)
        let report = try await Self.run(fixture, feed: nginx.baseURL)
        #expect(report.method == "delta", "\(damage)")
        #expect(report.deliveryFallback != nil)
        #expect(report.warnings.contains { $0.contains("delivery files not used") }, "\(report.warnings)")
        #expect(fixture.outDigest() == fixture.sha512, "\(damage)")
        #expect(fixture.installedUnchanged)
        #expect(fixture.leftovers().isEmpty, "\(damage): left \(fixture.leftovers())")
        print("\(damage): \(report.deliveryFallback ?? "")")
    }

    @Test("a server that ignores Range: the delivery files are not used")
    func serverIgnoringRanges() async throws {
        let old = Self.mixed(seed: 30, count: 600_000)
        var new = old
        new[300_000] ^= 1
        let fixture = try UpdateFixture(old: old, new: new, delivery: true)
        var files: [String: [UInt8]] = [:]
        for path in ["latest-linux.yml", fixture.relativeURL, fixture.relativeURL + ".blockmap",
                     fixture.relativeURL + ".byindex", fixture.relativeURL + ".bypack"] {
            files["/" + path] = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.feedRoot + "/" + path)))
        }
        let server = try ScriptedHTTPServer(files: files) { _ in .fullBody }
        defer { server.stop() }
        let report = try await Self.run(fixture, feed: server.baseURL + "/")
        #expect(report.method != "delivery")
        #expect(report.deliveryFallback?.contains("ignores Range") == true, "\(report.deliveryFallback ?? "nil")")
        #expect(fixture.outDigest() == fixture.sha512)
        #expect(fixture.leftovers().isEmpty)
    }

    /// A network failure of the pack (503 after every retry) is not a reason to use the
    /// blockmap instead: the update fails as transient (exit 74), nothing is at the output,
    /// and the next run, with the server back, uses the delivery path.
    @Test func packNetworkFailureIsNotAFallback() async throws {
        let old = Self.mixed(seed: 40, count: 800_000)
        var new = old
        new.replaceSubrange(400_000 ..< 400_500, with: [UInt8](repeating: 3, count: 900))
        let fixture = try UpdateFixture(old: old, new: new, delivery: true)
        var files: [String: [UInt8]] = [:]
        for path in ["latest-linux.yml", fixture.relativeURL, fixture.relativeURL + ".blockmap",
                     fixture.relativeURL + ".byindex", fixture.relativeURL + ".bypack"] {
            files["/" + path] = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.feedRoot + "/" + path)))
        }
        let packDown = DeliveryTestFlag()
        packDown.set(true)
        let server = try ScriptedHTTPServer(files: files) { request in
            request.path.hasSuffix(".bypack") && packDown.value ? .status(503) : .normal
        }
        defer { server.stop() }
        do {
            _ = try await Self.run(fixture, feed: server.baseURL + "/")
            Issue.record("the update succeeded without the pack")
        } catch {
            let failure = error as? UpdateError
            #expect(failure?.transient == true && failure?.kind == .io, "\(error)")
        }
        #expect(fixture.outDigest() == nil)
        #expect(!server.requests.contains { $0.0.path.hasSuffix("/\(fixture.relativeURL)") }, "the artifact was requested")
        packDown.set(false)
        let report = try await Self.run(fixture, feed: server.baseURL + "/")
        #expect(report.method == "delivery")
        #expect(fixture.outDigest() == fixture.sha512)
        #expect(fixture.leftovers().isEmpty, "left \(fixture.leftovers())")
    }
}

/// A boolean shared with a server's handler thread.
final class DeliveryTestFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var state = false
    var value: Bool { lock.withLock { state } }
    func set(_ v: Bool) { lock.withLock { state = v } }
}
