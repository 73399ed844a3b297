import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import BlockyardTestSupport
import Foundation
import Testing

/// The update client against a scripted server that misbehaves the ways real servers and
/// CDNs do: ranges ignored (200 full bodies), connections dropped mid-body, malformed or
/// merged multipart, corrupt bytes, transient errors, wrong files. The client must recover
/// or fail cleanly: the output is either the verified new file or absent, the installed
/// file is never touched.
@Suite("update client: failures and recovery", .serialized)
struct ClientFailureTests {
    /// Numbers requests in the order the server sees them.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
    }

    static let old = VectorInputs.generate("bundle-7-8-base")!

    static func fixture(_ variant: String) throws -> UpdateFixture {
        try UpdateFixture(old: old, new: VectorInputs.generate("bundle-7-8-\(variant)")!)
    }

    /// The error an update fails with (nil if it succeeds).
    static func failure(_ options: UpdateOptions) async -> UpdateError? {
        do {
            _ = try await UpdateClient(options: options).run()
            return nil
        } catch {
            return error
        }
    }

    @Test func serverIgnoringRangeIsReadAsAPlainDownloadAndAbandonedEarly() async throws {
        let f = try Self.fixture("insert100")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.range != nil ? .fullBody : .normal }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        #expect(report.download?.transport == "full-body")
        #expect(report.download?.fullBodyResponses == 1)
        #expect(report.method == "delta")
        // One request for the artifact, and it was abandoned once the changed bytes at the
        // start were in: far less than the file went out.
        #expect(server.requests(for: "/" + f.relativeURL).count == 1)
        #expect(report.bytesFetched < f.published.count / 2, "received \(report.bytesFetched)")
        #expect(f.leftovers().isEmpty)
        #expect(f.installedUnchanged)
    }

    @Test func multiRangeRefusedThenRangesIgnored() async throws {
        // swap: several ranges. Multi-range → 200 (abandoned), single range → 200: the
        // second response is read as the plain download.
        let f = try Self.fixture("swap")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.range != nil ? .fullBody : .normal }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        let artifact = server.requests(for: "/" + f.relativeURL)
        #expect(artifact.count == 2)
        #expect(artifact.first?.0.rangeCount ?? 0 > 1)
        #expect(artifact.last?.0.rangeCount == 1)
        #expect(report.download?.transport == "full-body")
        #expect(report.http.aborted >= 1)
    }

    @Test func connectionsDroppedMidBodyAreResumedWithinTheRun() async throws {
        let f = try Self.fixture("swap")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in
            // The first three artifact requests are cut off after 50 000 body bytes.
            r.range != nil && r.index <= 5 ? .dropAfter(50_000) : .normal
        }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        #expect(report.http.retries >= 1)
        let plan = try #require(report.plan)
        #expect(report.payloadBytes == plan.fetchBytes)
        #expect(f.leftovers().isEmpty)
    }

    @Test(arguments: [ScriptedHTTPServer.Reply.wrongPartRange, .mergedParts, .firstRangeOnly])
    func brokenMultipartFallsBackToSingleRanges(reply: ScriptedHTTPServer.Reply) async throws {
        let f = try Self.fixture("swap")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.rangeCount > 1 ? reply : .normal }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512, "\(reply)")
        let plan = try #require(report.plan)
        #expect(report.payloadBytes == plan.fetchBytes)
        #expect(report.download?.transport == "ranges", "\(reply)")
        // Never more than the payload plus what one wasteful or wrong answer carried.
        #expect(report.bytesFetched < f.published.count / 2)
    }

    @Test func corruptBytesOnceAreFetchedAgain() async throws {
        let f = try Self.fixture("swap")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.range != nil && r.index <= 3 ? .corrupt : .normal }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        #expect((report.download?.corruptChunks ?? 0) >= 1)
        #expect(report.method == "delta")
    }

    @Test func blockmapMadeBeforeSigningFallsBackToTheWholeFile() async throws {
        // The artifact changed after its blockmap was made ("signed"), inside the region the
        // update fetches, and the channel file has the final SHA-512: the fetched chunk never
        // matches the blockmap. The delta is given up for a full download, verified by SHA-512.
        let f = try Self.fixture("overwrite1k")
        var signed = f.published
        signed[signed.count / 2 + 4321 + 10] ^= 0x55
        try Data(signed).write(to: URL(fileURLWithPath: f.artifactPath))
        let channel = "\(f.feedRoot)/latest-linux.yml"
        try String(contentsOfFile: channel, encoding: .utf8)
            .replacingOccurrences(of: f.sha512, with: SHA2Hasher.hash(.sha512, signed).base64)
            .write(toFile: channel, atomically: true, encoding: .utf8)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == SHA2Hasher.hash(.sha512, signed).base64)
        #expect(report.method == "full")
        #expect(report.fallback?.contains("do not match the new blockmap") == true)
        #expect(report.payloadBytes == signed.count)
        #expect(report.warnings.contains { $0.contains("downloading the whole file") })
        #expect(f.leftovers().isEmpty)
    }

    @Test func alwaysCorruptFailsCleanly() async throws {
        let f = try Self.fixture("overwrite1k")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.range != nil ? .corrupt : .normal }
        let error = await #expect(throws: UpdateError.self) { try await UpdateClient(options: f.options(feed: server.baseURL)).run() }
        #expect(error?.kind == .checkFailed)
        #expect(error?.message.contains("sha512 checksum mismatch") == true)
        #expect(f.outDigest() == nil)
        #expect(f.leftovers().isEmpty)
        #expect(f.installedUnchanged)
    }

    @Test func transientStatusesAreRetried() async throws {
        let f = try Self.fixture("delete4m")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in
            [1, 3, 4].contains(r.index) ? .status(503) : .normal
        }
        let report = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        #expect(report.http.retries == 3)
    }

    @Test func interruptedUpdateResumesWhereItStopped() async throws {
        let f = try Self.fixture("append")
        let artifact = "/" + f.relativeURL
        // First server: the artifact's first response is cut off, then it answers 500.
        let failing = try ScriptedHTTPServer(root: f.feedRoot) { r in
            guard r.path == artifact else { return .normal }
            return r.range != nil && r.index == 3 ? .dropAfter(1_000_000) : .status(500)
        }
        do {
            _ = try await UpdateClient(options: f.options(feed: failing.baseURL)).run()
            Issue.record("the update should have failed")
        } catch {
            #expect(error.kind == .io)
        }
        #expect(f.outDigest() == nil)
        #expect(f.installedUnchanged)
        #expect(f.partialExists)
        let journal = try JSONDecoder().decode(PartialDownload.Journal.self,
                                               from: Data(contentsOf: URL(fileURLWithPath: PartialDownload.paths(for: f.outPath).journal)))
        #expect(journal.sha512 == f.sha512)
        // Up to a megabyte arrived before the connection was cut (how much of it the client
        // read before the reset depends on timing).
        #expect(journal.complete.byteCount > 0 && journal.complete.byteCount <= 1_000_000)

        // Second run, healthy server: only the rest is downloaded.
        let healthy = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let report = try await UpdateClient(options: f.options(feed: healthy.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        let plan = try #require(report.plan)
        let download = try #require(report.download)
        #expect(download.resumedBytes == journal.complete.byteCount)
        #expect(download.payloadBytes == plan.fetchBytes - download.resumedBytes)
        let ranges = healthy.requests(for: artifact).compactMap { $0.0.range }
        #expect(ranges.count == 1)
        #expect(f.leftovers().isEmpty)
    }

    @Test func resumeDoesNotTrustADamagedPartialFile() async throws {
        let f = try Self.fixture("append")
        let artifact = "/" + f.relativeURL
        let failing = try ScriptedHTTPServer(root: f.feedRoot) { r in
            guard r.path == artifact else { return .normal }
            return r.range != nil && r.index == 3 ? .dropAfter(1_000_000) : .status(500)
        }
        _ = try? await UpdateClient(options: f.options(feed: failing.baseURL)).run()
        let paths = PartialDownload.paths(for: f.outPath)
        let journal = try JSONDecoder().decode(PartialDownload.Journal.self, from: Data(contentsOf: URL(fileURLWithPath: paths.journal)))
        let first = try #require(journal.complete.ranges.first)
        // Damage one byte in the middle of what the journal says is complete.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: paths.partial))
        try handle.seek(toOffset: UInt64(first.lowerBound + first.count / 2))
        try handle.write(contentsOf: Data([0x5A]))
        try handle.close()
        let healthy = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let report = try await UpdateClient(options: f.options(feed: healthy.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        let download = try #require(report.download)
        #expect(download.resumedBytes > 0)
        #expect(download.resumedBytes < journal.complete.byteCount)
    }

    @Test func fullBodyMidwayCancelsTheOtherRequests() async throws {
        // Multipart refused; single ranges work at first, then one is answered with a 200 full
        // body while the others hang: the client must read the full body at once and abandon
        // the hanging requests, not wait for them (and nothing they send may reach the file).
        let old = VectorInputs.generate("bundle-7-8-base")!
        var new = old
        for k in 0..<12 {
            let at = 50_000 + k * 650_000
            for i in 0..<2000 { new[at + i] ^= 0xA5 }
        }
        let f = try UpdateFixture(old: old, new: new)
        let artifact = "/" + f.relativeURL
        let singles = Counter()
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in
            guard r.path == artifact, r.range != nil else { return .normal }
            if r.rangeCount > 1 { return .fullBody }
            switch singles.next() {
            case 1: return .normal
            case 2: return .fullBody
            default: return .slow(30)
            }
        }
        var options = f.options(feed: server.baseURL)
        options.download.minimumRequestBytes = 64 << 10
        let started = ContinuousClock.now
        let report = try await UpdateClient(options: options).run()
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(f.outDigest() == f.sha512)
        #expect(report.download?.transport == "full-body")
        #expect(report.download?.fullBodyResponses == 1)
        #expect(f.leftovers().isEmpty)
    }

    @Test func killedUpdateLeavesNothingAtTheOutputAndResumes() async throws {
        // The real binary, killed (SIGKILL) in the middle of a slow download.
        let f = try Self.fixture("append")
        let artifact = "/" + f.relativeURL
        let slow = try ScriptedHTTPServer(root: f.feedRoot) { r in
            r.path == artifact && r.range != nil ? .trickle(bytes: 64 << 10, seconds: 0.1) : .normal
        }
        let process = Process()
        process.executableURL = CommandRunner.binary
        process.arguments = ["update", "--feed", slow.baseURL, "--installed", f.installedPath, "--out", f.outPath,
                             "--platform", "linux", "--arch", "x64"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let journal = PartialDownload.paths(for: f.outPath).journal
        var recorded = 0
        for _ in 0..<300 where recorded < 300_000 {
            try await Task.sleep(for: .milliseconds(100))
            if let data = FileManager.default.contents(atPath: journal),
               let j = try? JSONDecoder().decode(PartialDownload.Journal.self, from: data) {
                recorded = j.complete.byteCount
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(recorded >= 300_000)
        #expect(f.outDigest() == nil)
        #expect(f.partialExists)
        #expect(f.installedUnchanged)

        let healthy = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let report = try await UpdateClient(options: f.options(feed: healthy.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
        let download = try #require(report.download)
        let plan = try #require(report.plan)
        #expect(download.resumedBytes >= recorded)
        #expect(download.payloadBytes == plan.fetchBytes - download.resumedBytes)
        #expect(f.leftovers().isEmpty)
    }

    @Test func secondUpdateToTheSameOutputIsRefused() async throws {
        let f = try Self.fixture("insert100")
        let held = try PartialDownload(destination: f.outPath, sha512: f.sha512, size: f.published.count,
                                       source: "another update", chunks: nil)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        let error = await Self.failure(f.options(feed: server.baseURL))
        #expect(error?.kind == .cannotCreate)
        #expect(error?.message.contains("another update to the same output is running") == true)
        #expect(f.outDigest() == nil)
        held.remove()
        _ = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
        #expect(f.outDigest() == f.sha512)
    }

    @Test func planWithoutChecksumsOverBrokenConnections() async throws {
        // No chunk checksums (a plan made with --no-chunk-checksums, or a version-1 blockmap):
        // multipart parts count only once the framing after them arrived, so a connection
        // cut inside a part cannot leave bytes of the wrong length behind.
        let f = try Self.fixture("swap")
        let artifact = "/" + f.relativeURL
        let target = try BlockmapCodec.decodeGzip(FileInput.readAll(path: f.artifactPath + ".blockmap"))
        let local = try BlockmapGenerator.generate(path: f.installedPath)
        let plan = try DeltaPlanner.plan(target: target, seeds: [PlanSeedInput(path: f.installedPath, size: local.size,
                                                                               blockmap: local.blockmap)],
                                         options: PlanOptions(includeChunks: false))
        #expect(plan.totals.fetchRanges > 1)
        let cuts = Counter()
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in
            guard r.path == artifact, r.rangeCount > 1 else { return .normal }
            return cuts.next() <= 2 ? .dropAfter(70_000) : .normal
        }
        let session = HTTPSession(retry: RetryPolicy(retries: 3, initialDelay: 0.01, maximumDelay: 0.05))
        let result = try await PlanDownload.run(plan: plan, url: URL(string: server.baseURL + artifact)!, resourceSize: nil,
                                                expectedSHA512: ExpectedDigest.sha512(f.sha512), out: f.outPath,
                                                session: session)
        await session.shutdown()
        #expect(f.outDigest() == f.sha512)
        #expect(result.download.transport == "multipart")
        #expect(server.requests(for: artifact).count >= 2)
        #expect(f.leftovers().isEmpty)
    }

    @Test func rangesTheServerCannotServeEndTheUpdate() async throws {
        let f = try Self.fixture("insert100")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { r in r.range != nil ? .status(416) : .normal }
        let error = await Self.failure(f.options(feed: server.baseURL))
        #expect(error?.kind == .io)
        #expect(error?.message.contains("416") == true)
        // Not retried: one range request.
        #expect(server.requests(for: "/" + f.relativeURL).count == 1)
        #expect(f.outDigest() == nil)
    }

    @Test func unreachableServerFailsAfterRetries() async throws {
        let f = try Self.fixture("insert100")
        let port = try NginxServer.freePort()
        do {
            _ = try await UpdateClient(options: f.options(feed: "http://127.0.0.1:\(port)/")).run()
            Issue.record("the update should have failed")
        } catch {
            #expect(error.kind == .io)
            #expect(error.message.contains("gave up after 4 attempts"))
        }
        #expect(f.outDigest() == nil)
        #expect(f.leftovers().isEmpty)
    }

    @Test func wrongFileOnTheServerFailsTheCheck() async throws {
        // The channel file names a SHA-512 the served file does not have.
        let f = try Self.fixture("insert100")
        let channel = "\(f.feedRoot)/latest-linux.yml"
        let text = try String(contentsOfFile: channel, encoding: .utf8).replacingOccurrences(of: f.sha512, with: Base64.encode([UInt8](repeating: 7, count: 64)))
        try text.write(toFile: channel, atomically: true, encoding: .utf8)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        do {
            _ = try await UpdateClient(options: f.options(feed: server.baseURL)).run()
            Issue.record("the update should have failed")
        } catch {
            #expect(error.kind == .checkFailed)
        }
        #expect(f.outDigest() == nil)
        #expect(f.leftovers().isEmpty)
        // The delta was tried, then the whole file, and both failed the SHA-512.
        var asked = ByteIntervals()
        for (request, _) in server.requests(for: "/" + f.relativeURL) {
            for spec in (request.range ?? "").dropFirst(6).split(separator: ",") {
                let bounds = spec.trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
                if bounds.count == 2 { asked.insert(bounds[0]..<(bounds[1] + 1)) }
            }
        }
        #expect(asked.ranges == [0..<f.published.count])
    }

    @Test func metadataErrors() async throws {
        let f = try Self.fixture("insert100")
        let good = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        var options = f.options(feed: good.baseURL)
        options.channel = "beta"
        #expect(await Self.failure(options)?.kind == .missingInput)

        try Data("version: [unclosed".utf8).write(to: URL(fileURLWithPath: "\(f.feedRoot)/beta-linux.yml"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: f.artifactPath + ".blockmap"))
        let broken = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        options = f.options(feed: broken.baseURL)
        options.channel = "beta"
        #expect(await Self.failure(options)?.kind == .invalidData)
        options.channel = "latest"
        let blockmap = await Self.failure(options)
        #expect(blockmap?.kind == .invalidData)
        #expect(blockmap?.message.contains("blockmap") == true)
        options.installed = f.dir.path("missing.bin")
        #expect(await Self.failure(options)?.kind == .missingInput)
        #expect(f.outDigest() == nil)
    }

    @Test func signedChannelFiles() async throws {
        let f = try Self.fixture("insert100")
        let key = MetadataSigningKey.generate()
        let channel = "\(f.feedRoot)/latest-linux.yml"
        let content = Array(try Data(contentsOf: URL(fileURLWithPath: channel)))
        try ChannelFileSignature.sign(name: "latest-linux.yml", content: content, key: key)
            .write(toFile: channel + ".sig", atomically: true, encoding: .utf8)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        var options = f.options(feed: server.baseURL)
        options.publicKey = key.publicKey
        options.statePath = f.dir.path("state.json")
        let report = try await UpdateClient(options: options).run()
        #expect(f.outDigest() == f.sha512)
        #expect(report.version == "2.0.0")
        let state = try MetadataVerifierState.load(path: f.dir.path("state.json"))
        #expect(state.channelFiles["latest-linux.yml"]?.version == "2.0.0")
        #expect(server.requests.contains { $0.0.path == "/latest-linux.yml.sig" && $0.0.target.contains("noCache=") })

        // Another key: refused before anything is downloaded.
        try FileManager.default.removeItem(atPath: f.outPath)
        options.publicKey = MetadataSigningKey.generate().publicKey
        options.statePath = nil
        let before = server.requests.count
        #expect(await Self.failure(options)?.kind == .checkFailed)
        #expect(server.requests.count == before + 2)
        #expect(f.outDigest() == nil)
    }

    @Test func stagingIDIsSentAndStagedReleasesAreNotOfferedOutsideTheRollout() async throws {
        let f = try Self.fixture("insert100")
        let channel = "\(f.feedRoot)/latest-linux.yml"
        let text = try String(contentsOfFile: channel, encoding: .utf8)
            .replacingOccurrences(of: "releaseDate:", with: "stagingPercentage: 10\nreleaseDate:")
        try text.write(toFile: channel, atomically: true, encoding: .utf8)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        var options = f.options(feed: server.baseURL)
        options.stagingID = "0f9a8f5e-7d6c-4b3a-9a1f-00000000ffff"   // 0.0015 %: inside
        let inside = try await UpdateClient(options: options).run()
        #expect(inside.status == "updated")
        #expect(f.outDigest() == f.sha512)
        let channelRequests = server.requests.filter { $0.0.path == "/latest-linux.yml" }
        #expect(channelRequests.allSatisfy { $0.0.headers["x-user-staging-id"] == options.stagingID })
        #expect(server.requests.filter { $0.0.path != "/latest-linux.yml" }.allSatisfy { $0.0.headers["x-user-staging-id"] == nil })

        try FileManager.default.removeItem(atPath: f.outPath)
        options.stagingID = "0f9a8f5e-7d6c-4b3a-9a1f-0000f0000000"   // 94 %: outside
        let outside = try await UpdateClient(options: options).run()
        #expect(outside.status == "not-offered")
        #expect(f.outDigest() == nil)
    }

    @Test func upToDateInPlaceWritesNothing() async throws {
        let new = VectorInputs.generate("bundle-7-8-insert100")!
        let f = try UpdateFixture(old: new, new: new)
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        var options = f.options(feed: server.baseURL)
        options.out = f.installedPath
        let report = try await UpdateClient(options: options).run()
        #expect(report.status == "up-to-date")
        #expect(server.requests(for: "/" + f.relativeURL).isEmpty)
        #expect(f.installedUnchanged)
    }

    @Test func updateInPlaceReplacesTheInstalledFileAtomically() async throws {
        let f = try Self.fixture("overwrite1k")
        let server = try ScriptedHTTPServer(root: f.feedRoot) { _ in .normal }
        // Keep the old file open: its bytes must not change under the reader.
        let reader = try FileHandle(forReadingFrom: URL(fileURLWithPath: f.installedPath))
        var options = f.options(feed: server.baseURL)
        options.out = f.installedPath
        let report = try await UpdateClient(options: options).run()
        #expect(report.status == "updated")
        #expect(try FileHasher.hash(path: f.installedPath).sha512.base64 == f.sha512)
        let oldBytes = try reader.readToEnd() ?? Data()
        #expect(SHA2Hasher.hash(.sha512, Array(oldBytes)).base64 == f.installedDigest)
        try reader.close()
    }
}
