import BlockyardCore
import BlockyardIO
import BlockyardRelease
import Foundation

/// What the delivery path fetched and built (`blockyard update --json`, `delivery`).
public struct DeliveryReport: Codable, Equatable, Sendable {
    /// Index bytes asked for (the first request and one batch per level opened).
    public var indexBytes = 0
    /// Index requests made (retries and multi-range splits not included).
    public var indexRounds = 0
    /// Index byte ranges asked for, all rounds together.
    public var indexRanges = 0
    /// Pack bytes the plan needed, and how many ranges they made.
    public var packBytes = 0
    public var packRanges = 0
    /// How the pack ranges were downloaded (resumed bytes, transport, requests).
    public var pack: RangeDownloadReport?
    /// Bytes copied from the installed file (kept subtrees and chunks found anywhere in it).
    public var copiedBytes = 0
    /// Chunks decoded from the pack and checked against their SHA-256.
    public var unpackedChunks = 0
    public var unpackedBytes = 0
    /// Nothing to reuse: the whole pack was downloaded in one range.
    public var firstInstall = false

    public init() {}
}

/// The result of ``DeliveryDownload/run``.
enum DeliveryOutcome: Sendable {
    /// The installed file (also the output) already has the expected SHA-512.
    case upToDate(size: Int, sha512: Digest, chunkingSeconds: Double)
    case updated(DeliveryReport, DeliveryAssemblyReport, timings: UpdateTimings)
}

/// The delivery path of ``UpdateClient`` (docs/HTTP-CLIENT.md, "The delivery path"):
///
/// 1. At the same time: the first bytes of the `.byindex` (header, level table, top levels;
///    one single-range request) and the installed file cut and SHA-256'd on all cores
///    (``DeliveryLocalScan``).
/// 2. ``DeliveryDescent`` walks down from the channel file's root, one batched range request
///    per level into the index (``RangeDownloader``: multipart where the server allows it,
///    retries), verifying every record it uses against its parent's hash.
/// 3. The pack ranges of the chunks the installed file lacks are downloaded into a partial
///    download beside the output (resumable, like the blockmap path's).
/// 4. ``DeliveryAssembler`` writes the file: copies from the installed file, chunks decoded
///    and checked against their SHA-256; SHA-512 from disk, fsync, rename.
///
/// Every error is an ``UpdateError``; ``UpdateClient`` falls back to the blockmap path on any
/// that is not transient.
enum DeliveryDownload {
    static func run(reference: DeliveryReference, feed: UpdateFeed, installed: String, installedSize: Int, inPlace: Bool,
                    out: String, expectedSHA512: [UInt8], session: HTTPSession, options: RangeDownloadOptions,
                    observer: any UpdateObserver) async throws(UpdateError) -> DeliveryOutcome {
        let clock = ContinuousClock()
        let started = clock.now
        var timings = UpdateTimings()
        guard let root = reference.rootHash else { throw UpdateError(.invalidData, "blockyardRoot is not 64 hex digits") }
        let indexURL = feed.fileURL(reference.index), packURL = feed.fileURL(reference.pack)
        for url in [indexURL, packURL] {
            guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                throw UpdateError(.invalidData, "\(url.absoluteString) is not an http(s) URL")
            }
        }
        let indexSize = reference.indexSize
        guard indexSize >= DeliveryIndexCodec.headerSize, indexSize <= FeedLimits.deliveryIndex else {
            throw UpdateError(.invalidData, "blockyardIndexSize \(indexSize) is not the size of a delivery index (\(DeliveryIndexCodec.headerSize) bytes … \(FeedLimits.deliveryIndex))")
        }
        let indexName = HTTPSession.display(indexURL)

        // 1. The first index bytes and the local scan, side by side. Leaving this scope early
        // cancels the scan (polled between windows) and waits for it.
        async let scanned = scan(installed, size: installedSize, parameters: .electronBuilder, sha512: inPlace, observer: observer)
        let first = DeliveryDescent.initialRange(indexSize: indexSize)
        guard let prefix = try await session.fetchRange(indexURL, ByteRange(offset: 0, length: first.count), totalSize: indexSize,
                                                        what: "delivery index") else {
            throw UpdateError(.invalidData, "\(indexName): the server ignores Range (answered 200)")
        }
        timings.metadata = PlanDownload.seconds(clock.now - started)
        let header: DeliveryIndexCodec.Header
        do {
            header = try DeliveryDescent.header(prefix)
        } catch {
            throw UpdateError(.invalidData, "\(indexName): \(error.description)")
        }
        var (local, scanSeconds) = try await scanned.get()
        guard local.size == installedSize else {
            throw UpdateError(.io, "\(installed): changed while it was read (\(installedSize) then \(local.size) bytes)")
        }
        if inPlace, let digest = local.sha512, digest.bytes == expectedSHA512 {
            return .upToDate(size: local.size, sha512: digest, chunkingSeconds: scanSeconds)
        }
        if header.parameters.chunker != .electronBuilder {
            // A publisher's own chunking: cut again the way the index was cut.
            let again = try await scan(installed, size: installedSize, parameters: header.parameters.chunker, sha512: false,
                                       observer: observer).get()
            local = again.0
            scanSeconds += again.1
        }
        timings.chunking = scanSeconds

        // 2. Down the tree, a level per round.
        let descentStarted = clock.now
        var report = DeliveryReport()
        var descent = DeliveryDescent(expectedRoot: root, indexSize: indexSize, packSize: UInt64(reference.packSize),
                                      local: local.chunks)
        descent.receive(prefix, at: 0)
        let identity = Base64.encode(expectedSHA512)
        var indexPartial: PartialDownload?
        defer { indexPartial?.remove() }
        var plan: DeliveryPlan?
        while plan == nil {
            let step: DeliveryDescent.Step
            do {
                step = try descent.next()
            } catch {
                throw UpdateError(.invalidData, "\(indexName): \(error.description)")
            }
            switch step {
            case .done(let p):
                plan = p
            case .fetch(let ranges):
                if indexPartial == nil {
                    indexPartial = try PartialDownload(destination: out + ".byindex", sha512: "\(identity) index \(root.hex)",
                                                       size: indexSize, source: indexName, chunks: nil, journaled: false)
                }
                let partial = indexPartial!
                var needed = ByteIntervals()
                for r in ranges { needed.insert(r) }
                var roundOptions = options
                roundOptions.minimumRequestBytes = Int.max  // one request per level where the server allows
                let got = try await RangeDownloader.download(url: indexURL, needed: needed, resourceSize: indexSize, into: partial,
                                                             session: session, options: roundOptions)
                if got.fullBodyResponses > 0 {
                    throw UpdateError(.invalidData, "\(indexName): the server ignored Range for a batch of index records")
                }
                for r in ranges { descent.receive(try partial.read(r), at: r.lowerBound) }
                report.indexRanges += ranges.count
            }
        }
        let finalPlan = plan!
        report.indexBytes = finalPlan.indexBytes + first.count
        report.indexRounds = finalPlan.indexRounds + 1
        report.indexRanges += 1
        report.packBytes = Int(finalPlan.packBytes)
        report.packRanges = finalPlan.packRanges.count
        report.firstInstall = finalPlan.copyBytes == 0 && finalPlan.packRanges.count == 1
        timings.planning = 0
        timings.metadata += PlanDownload.seconds(clock.now - descentStarted)

        // 3. The pack ranges.
        try FeedLimits.checkSize(Int(finalPlan.artifactSize), out: out, what: indexName)
        let packPartial = try PartialDownload(destination: out + ".bypack", sha512: "\(identity) pack \(root.hex)",
                                              size: reference.packSize, source: HTTPSession.display(packURL), chunks: nil)
        defer { packPartial.closeFile() }
        let downloadStarted = clock.now
        if !finalPlan.packRanges.isEmpty {
            var needed = ByteIntervals()
            for r in finalPlan.packRanges { needed.insert(Int(r.lowerBound) ..< Int(r.upperBound)) }
            var packOptions = options
            // A first install is one plain range of the whole pack.
            if report.firstInstall { packOptions.minimumRequestBytes = Int.max }
            observer.begin("downloading", total: needed.byteCount)
            do {
                report.pack = try await RangeDownloader.download(url: packURL, needed: needed, resourceSize: reference.packSize,
                                                                 into: packPartial, session: session, options: packOptions,
                                                                 progress: { observer.advance($0) })
                observer.end()
            } catch {
                observer.end()
                if !(error.transient && packPartial.isResumable) { packPartial.remove() }
                throw error
            }
        }
        timings.download = PlanDownload.seconds(clock.now - downloadStarted)

        // 4. Build, verify, rename.
        let buildStarted = clock.now
        observer.begin("building", total: Int(finalPlan.artifactSize))
        let built: DeliveryAssemblyReport
        do {
            let packPath = packPartial.path
            built = try await onThread("blockyard-assemble") {
                try DeliveryAssembler.assemble(plan: finalPlan, installedPath: finalPlan.copyBytes > 0 ? installed : nil,
                                               packPath: packPath, to: out, expectedSHA512: expectedSHA512,
                                               progress: { observer.advance($0) })
            }
            observer.end()
        } catch {
            observer.end()
            // Bytes that failed a check are no use to a retry.
            packPartial.remove()
            if let e = error as? DeliveryIndexError { throw UpdateError(.invalidData, "\(HTTPSession.display(packURL)): \(e.description)") }
            throw PlanDownload.describe(error)
        }
        packPartial.remove()
        timings.build = PlanDownload.seconds(clock.now - buildStarted)
        report.copiedBytes = built.copiedBytes
        report.unpackedChunks = built.unpackedChunks
        report.unpackedBytes = built.unpackedBytes
        return .updated(report, built, timings: timings)
    }

    /// Scans the installed file on a thread of its own; cancelling the calling task stops it
    /// within one window.
    static func scan(_ path: String, size: Int, parameters: ChunkerParameters, sha512: Bool,
                     observer: any UpdateObserver) async -> Result<(DeliveryLocalScan.Result, Double), UpdateError> {
        let started = ContinuousClock.now
        let stop = CancelFlag()
        observer.begin("chunking", total: size)
        defer { observer.end() }
        do {
            let result = try await withTaskCancellationHandler {
                try await onThread("blockyard-scan") {
                    try DeliveryLocalScan.scan(path: path, parameters: parameters, sha512: sha512,
                                               progress: { observer.advance($0) }, isCancelled: { stop.isSet })
                }
            } onCancel: {
                stop.set()
            }
            return .success((result, PlanDownload.seconds(ContinuousClock.now - started)))
        } catch is CancellationError {
            return .failure(UpdateError(.io, "\(path): chunking interrupted", transient: true))
        } catch {
            return .failure(PlanDownload.describe(error))
        }
    }
}
