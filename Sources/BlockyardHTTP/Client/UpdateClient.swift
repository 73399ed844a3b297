import BlockyardCore
import BlockyardIO
import BlockyardRelease
import Foundation
import Synchronization

/// Options of ``UpdateClient``.
public struct UpdateOptions: Sendable {
    /// The feed URL (electron-builder "generic" provider `url`).
    public var feed: String
    /// The installed file: the seed. Only ever read.
    public var installed: String
    /// Where the new file goes (may be the installed file's path: replaced atomically).
    public var out: String
    /// `latest`, `beta`, …
    public var channel = "latest"
    /// Platform and architecture: pick the channel file's suffix and the artifact.
    public var target = UpdateFileChoice.hostTarget
    /// `--file`: the artifact's file name, overriding the automatic choice.
    public var file: String?
    /// Extra headers for every request (`Authorization: …` disables the cache-buster).
    public var headers: [(String, String)] = []
    /// Names of headers in ``headers`` that are dropped when a redirect leaves the feed's
    /// origin, besides those that always are (``HTTPSession/credentialHeaders``).
    public var secretHeaders: [String] = []
    /// Sent as `x-user-staging-id` with the channel file request; also decides locally
    /// whether a staged release (`stagingPercentage`) is offered to this client.
    public var stagingID: String?
    /// The installed file's version, when known: sent as `X-Blockyard-Installed-Version` on
    /// every request, so a server's update analytics know where the update came from.
    public var installedVersion: String?
    /// Channel files must be signed by this key (`<channel file>.sig`).
    public var publicKey: MetadataPublicKey?
    /// Rollback-protection state (last accepted metadata); read and, after success, updated.
    public var statePath: String?
    /// Skip the blockmap: download the whole file.
    public var full = false
    /// Use the delivery index and pack when the channel file names them (`blockyardIndex`,
    /// …; docs/FORMAT.md); false (`--no-delivery`) forces the blockmap path.
    public var delivery = true
    public var download = RangeDownloadOptions()
    public var retry = RetryPolicy()
    /// Seconds of silence while reading a response before an attempt fails.
    public var readTimeout: Double = 30
    /// Seconds one attempt may spend connecting (a refused connection is retried meanwhile).
    public var connectTimeout: Double = 10
    /// The caller's own rules, applied to the channel file before anything is downloaded:
    /// a reason to decline the offered release (skip list, downgrade policy, a pinned
    /// version), or nil to go ahead. A declined release ends the run with `not-offered`.
    public var accept: (@Sendable (UpdateInfo) -> String?)?

    public init(feed: String, installed: String, out: String) {
        self.feed = feed
        self.installed = installed
        self.out = out
    }

    /// ``headers`` and, when the installed version is known, `X-Blockyard-Installed-Version`.
    var requestHeaders: [(String, String)] {
        guard let installedVersion, !installedVersion.isEmpty,
              installedVersion.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return headers }
        return headers + [("X-Blockyard-Installed-Version", installedVersion)]
    }
}

/// Seconds per phase.
public struct UpdateTimings: Codable, Equatable, Sendable {
    /// Channel file (and signature), blockmap, chunking the installed file (these overlap).
    public var metadata = 0.0
    public var chunking = 0.0
    public var planning = 0.0
    public var download = 0.0
    /// Building the new file, SHA-512 from disk, fsync and rename.
    public var build = 0.0
    public var total = 0.0
}

/// What an update did (`blockyard update --json`).
public struct UpdateReport: Codable, Equatable, Sendable {
    /// `updated`, `up-to-date` (the installed file already is the new version, and it is the
    /// output) or `not-offered` (a staged release this staging id is not part of).
    public var status: String
    public var version: String
    public var channelFile: String
    public var file: String
    public var out: String
    public var size: Int
    public var sha512: String
    /// `delivery` (index descent + pack ranges), `delta` (blockmap plan + ranges), or `full`
    /// (no blockmap, `--full`, or a delta given up).
    public var method: String
    /// Why a delta was given up for a full download, if it was.
    public var fallback: String?
    /// Response body bytes received, every request included (channel file, signature,
    /// blockmap, ranges with their multipart framing).
    public var bytesFetched: Int
    /// New-file bytes downloaded (what the plan needed, minus what a previous run left).
    public var payloadBytes: Int
    /// HTTP requests, every one included.
    public var requests: Int
    /// Byte ranges asked for in range requests.
    public var ranges: Int
    /// Bytes taken from the installed file or repeated within the new file.
    public var reusedBytes: Int
    public var plan: PlanTotals?
    public var download: RangeDownloadReport?
    public var http: TransferCounters
    public var seconds: UpdateTimings
    /// Warnings about the metadata (also printed on stderr).
    public var warnings: [String]
    /// What the delivery path fetched (method `delivery` only).
    public var delivery: DeliveryReport? = nil
    /// Why the delivery files named by the channel file were not used, if they were not.
    public var deliveryFallback: String? = nil
}

/// `blockyard update`: brings a file up to date from an electron-builder-style feed
/// (Blockyard's server, nginx, S3, a CDN) with the fewest bytes and requests.
///
/// 1. Fetch the channel file `<channel><suffix>.yml` (GenericProvider URL rules,
///    ``UpdateFeed``); with a public key, its `.sig` too, checked with rollback protection.
/// 2. Choose the artifact (``UpdateFileChoice``). If its entry names a delivery index and
///    pack (``DeliveryReference``) and neither ``UpdateOptions/full`` nor
///    ``UpdateOptions/delivery`` `= false` says otherwise, take the delivery path
///    (``DeliveryDownload``: index descent from the channel file's root, compressed chunks
///    from the pack); any failure of it but a network one is a warning, and the update
///    continues below as if there were no delivery files.
/// 3. At the same time: fetch the new blockmap (`<artifact>.blockmap`, or for an artifact with
///    `blockMapSize` the embedded one, with one tail range request) and chunk the installed
///    file locally (no old blockmap is needed, so none can be wrong).
/// 4. Plan with ``DeltaPlanner`` (no operation limit), download and build with
///    ``PlanDownload`` (parallel, multipart or single ranges, 200 detection, retries,
///    resume, SHA-512 of the file on disk, atomic rename).
/// 5. If the server's bytes do not match the blockmap, or the rebuilt file does not match
///    the SHA-512, the delta is given up once for a full download (verified the same way).
public struct UpdateClient: Sendable {
    public let options: UpdateOptions
    public let observer: any UpdateObserver

    public init(options: UpdateOptions, observer: any UpdateObserver = SilentUpdateObserver()) {
        self.options = options
        self.observer = observer
    }

    public func run() async throws(UpdateError) -> UpdateReport {
        let session = HTTPSession(headers: options.requestHeaders, secretHeaders: options.secretHeaders,
                                  connections: options.download.connections,
                                  retry: options.retry, connectTimeout: options.connectTimeout,
                                  readTimeout: options.readTimeout)
        do {
            let report = try await update(session: session)
            await session.shutdown()
            return report
        } catch {
            await session.shutdown()
            throw error
        }
    }

    private func update(session: HTTPSession) async throws(UpdateError) -> UpdateReport {
        let clock = ContinuousClock()
        let started = clock.now
        var timings = UpdateTimings()
        var warnings: [String] = []
        func warn(_ message: String) {
            warnings.append(message)
            observer.warning(message)
        }

        let installedSize = try Self.regularFileSize(options.installed)
        let feed = try UpdateFeed(options.feed)
        let channelName = options.target.channelFileName(channel: options.channel)

        // 1. Channel file.
        let channel = try await fetchChannel(session: session)
        let info = channel.info
        let channelURL = channel.url
        let verifiedState = channel.verifiedState
        for w in channel.warnings { warn(w) }

        // The caller's own rules (skip list, downgrade policy, a pinned version).
        if let accept = options.accept, let reason = accept(info) {
            timings.total = PlanDownload.seconds(clock.now - started)
            warn(reason)
            return UpdateReport(status: "not-offered", version: info.version, channelFile: HTTPSession.display(channelURL),
                                file: "", out: options.out, size: 0, sha512: "", method: "none", fallback: nil,
                                bytesFetched: session.statistics.bodyBytes, payloadBytes: 0,
                                requests: session.statistics.requests, ranges: 0, reusedBytes: 0, plan: nil, download: nil,
                                http: session.statistics, seconds: timings, warnings: warnings)
        }

        // Staged rollout, as electron-updater decides it.
        if let id = options.stagingID, let percentage = info.stagingPercentage,
           !Self.isInRollout(stagingID: id, percentage: percentage) {
            timings.total = PlanDownload.seconds(clock.now - started)
            return UpdateReport(status: "not-offered", version: info.version, channelFile: HTTPSession.display(channelURL),
                                file: "", out: options.out, size: 0, sha512: "", method: "none", fallback: nil,
                                bytesFetched: session.statistics.bodyBytes, payloadBytes: 0,
                                requests: session.statistics.requests, ranges: 0, reusedBytes: 0, plan: nil, download: nil,
                                http: session.statistics, seconds: timings, warnings: warnings)
        }

        // 2. The artifact.
        let file = try UpdateFileChoice.choose(info.effectiveFiles, target: options.target,
                                               installedName: URL(fileURLWithPath: options.installed).lastPathComponent,
                                               explicit: options.file)
        let expected: [UInt8]
        do {
            expected = try ExpectedDigest.sha512(file.sha512)
        } catch {
            throw UpdateError(.invalidData, "\(channelName): \(file.url): sha512 is neither base64 nor hex of 64 bytes")
        }
        let fileURL = feed.fileURL(file.url)
        guard let scheme = fileURL.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw UpdateError(.invalidData, "\(channelName): \(file.url) is not an http(s) URL")
        }
        // A size no file could have is bad metadata: refused before anything is created.
        if let size = file.size { try FeedLimits.checkSize(size, out: options.out, what: "\(channelName): \(file.url)") }

        timings.metadata = PlanDownload.seconds(clock.now - started)
        // The installed file's SHA-512 only matters when it is also the output (an update in
        // place may find it is already the new version); otherwise chunking skips it.
        let inPlace = Self.sameFile(options.installed, options.out)

        // The delivery path, when the release has one; anything but a network failure sends
        // the update down the blockmap path instead.
        var deliveryFallback: String?
        if !options.full, options.delivery, let reference = file.delivery {
            let deliveryStarted = clock.now
            do {
                let outcome = try await DeliveryDownload.run(
                    reference: reference, feed: feed, installed: options.installed, installedSize: installedSize,
                    inPlace: inPlace, out: options.out, expectedSHA512: expected, session: session,
                    options: options.download, observer: observer)
                switch outcome {
                case .upToDate(let size, let digest, let chunking):
                    timings.chunking = chunking
                    timings.total = PlanDownload.seconds(clock.now - started)
                    return UpdateReport(status: "up-to-date", version: info.version, channelFile: HTTPSession.display(channelURL),
                                        file: HTTPSession.display(fileURL), out: options.out, size: size,
                                        sha512: digest.base64, method: "none", fallback: nil,
                                        bytesFetched: session.statistics.bodyBytes, payloadBytes: 0,
                                        requests: session.statistics.requests, ranges: 0, reusedBytes: size,
                                        plan: nil, download: nil, http: session.statistics, seconds: timings, warnings: warnings)
                case .updated(let delivery, let built, let phases):
                    if let statePath = options.statePath, let verifiedState {
                        do {
                            try verifiedState.save(path: statePath)
                        } catch {
                            warn("cannot save the verifier state: \(error.message)")
                        }
                    }
                    timings.metadata += phases.metadata
                    timings.chunking = phases.chunking
                    timings.download = phases.download
                    timings.build = phases.build
                    timings.total = PlanDownload.seconds(clock.now - started)
                    let http = session.statistics
                    return UpdateReport(status: "updated", version: info.version, channelFile: HTTPSession.display(channelURL),
                                        file: HTTPSession.display(fileURL), out: options.out, size: built.size,
                                        sha512: built.sha512, method: "delivery", fallback: nil,
                                        bytesFetched: http.bodyBytes, payloadBytes: delivery.pack?.payloadBytes ?? 0,
                                        requests: http.requests,
                                        ranges: delivery.indexRanges + (delivery.pack?.rangesRequested ?? 0),
                                        reusedBytes: built.copiedBytes, plan: nil, download: delivery.pack,
                                        http: http, seconds: timings, warnings: warnings, delivery: delivery)
                }
            } catch where !error.transient {
                deliveryFallback = error.message
                warn("delivery files not used (\(error.message)); updating from the blockmap instead")
                timings.metadata += PlanDownload.seconds(clock.now - deliveryStarted)
            }
        }

        // 3. Blockmap and local chunking, side by side.
        // A child task: if anything below throws before it is awaited, leaving this scope
        // cancels it (the chunker polls the flag between 4 MiB windows) and waits for it, so
        // no chunking thread is left running when the update returns and the process exits.
        async let chunked = Self.chunkInstalled(options.installed, size: installedSize, inPlace: inPlace, observer: observer)
        let blockmapStarted = clock.now
        let newBlockmap = options.full ? .missing(nil) : try await fetchBlockmap(file: file, url: fileURL, session: session)
        timings.metadata += PlanDownload.seconds(clock.now - blockmapStarted)
        let local: LocalChunks
        (local, timings.chunking) = try await chunked.get()
        guard local.size == installedSize else {
            throw UpdateError(.io, "\(options.installed): changed while it was read (\(installedSize) then \(local.size) bytes)")
        }

        // Already the new version, in place: nothing to write.
        if inPlace, let digest = local.sha512, digest.bytes == expected {
            timings.total = PlanDownload.seconds(clock.now - started)
            return UpdateReport(status: "up-to-date", version: info.version, channelFile: HTTPSession.display(channelURL),
                                file: HTTPSession.display(fileURL), out: options.out, size: installedSize,
                                sha512: digest.base64, method: "none", fallback: nil,
                                bytesFetched: session.statistics.bodyBytes, payloadBytes: 0,
                                requests: session.statistics.requests, ranges: 0, reusedBytes: installedSize,
                                plan: nil, download: nil, http: session.statistics, seconds: timings, warnings: warnings)
        }

        // 4. Plan, download, build.
        var method = "delta"
        var fallback: String?
        var plan: DeltaPlan
        var preloaded: [(offset: Int, bytes: [UInt8])] = []
        let planStarted = clock.now
        switch newBlockmap {
        case .missing(let reason):
            if let reason { warn(reason) }
            method = "full"
            plan = try Self.fullPlan(size: file.size, url: file.url)
        case .separate(let blockmap):
            plan = try makePlan(blockmap, source: HTTPSession.display(UpdateFeed.blockmapURL(forFile: fileURL)),
                                size: file.size, local: local)
        case .embedded(let blockmap, let tail, let size):
            plan = try makePlan(blockmap, source: "embedded in \(HTTPSession.display(fileURL))",
                                size: size - tail.count, local: local)
            plan = Self.appendingTail(tail, to: plan)
            preloaded = [(size - tail.count, tail)]
        }
        timings.planning = PlanDownload.seconds(clock.now - planStarted)

        let result: PlanDownloadReport
        // A whole-file download says so on its range requests (server analytics).
        var fullDownload = options.download
        fullDownload.wholeFile = true
        do {
            result = try await PlanDownload.run(plan: plan, url: fileURL, resourceSize: file.size ?? plan.target.size,
                                                expectedSHA512: expected, out: options.out,
                                                seedPaths: [0: options.installed], expectedSize: file.size,
                                                preloaded: preloaded, session: session,
                                                options: method == "full" ? fullDownload : options.download,
                                                observer: observer)
        } catch where error.kind == .checkFailed && method == "delta" {
            // The blockmap does not describe the served file, or the rebuilt file is not the
            // one the channel file names: a full download is checked against the SHA-512 alone.
            fallback = error.message
            warn("differential update failed (\(error.message)); downloading the whole file")
            method = "full"
            plan = try Self.fullPlan(size: file.size ?? plan.target.size, url: file.url)
            result = try await PlanDownload.run(plan: plan, url: fileURL, resourceSize: file.size ?? plan.target.size,
                                                expectedSHA512: expected, out: options.out, expectedSize: file.size,
                                                session: session, options: fullDownload, observer: observer)
        }
        timings.download = result.downloadSeconds
        timings.build = result.applySeconds

        if let statePath = options.statePath, let verifiedState {
            do {
                try verifiedState.save(path: statePath)
            } catch {
                warn("cannot save the verifier state: \(error.message)")
            }
        }
        timings.total = PlanDownload.seconds(clock.now - started)
        let http = session.statistics
        return UpdateReport(status: "updated", version: info.version, channelFile: HTTPSession.display(channelURL),
                            file: HTTPSession.display(fileURL), out: options.out, size: result.apply.size,
                            sha512: result.apply.sha512, method: method, fallback: fallback,
                            bytesFetched: http.bodyBytes, payloadBytes: result.download.payloadBytes,
                            requests: http.requests, ranges: result.download.rangesRequested,
                            reusedBytes: plan.totals.reusedBytes, plan: plan.totals, download: result.download,
                            http: http, seconds: timings, warnings: warnings, deliveryFallback: deliveryFallback)
    }

    /// A channel file as fetched (and, with a public key, verified).
    public struct ChannelFetch: Sendable {
        public var info: UpdateInfo
        public var url: URL
        public var name: String
        public var warnings: [String]
        /// The verifier state to save once the update succeeds (signed feeds only).
        public var verifiedState: MetadataVerifierState?
    }

    /// Fetches, parses and (with ``UpdateOptions/publicKey``) verifies the channel file,
    /// without downloading anything else: what an update check needs.
    public func checkChannel() async throws(UpdateError) -> ChannelFetch {
        let session = HTTPSession(headers: options.requestHeaders, secretHeaders: options.secretHeaders, connections: 1,
                                  retry: options.retry, connectTimeout: options.connectTimeout,
                                  readTimeout: options.readTimeout)
        do {
            let result = try await fetchChannel(session: session)
            await session.shutdown()
            return result
        } catch {
            await session.shutdown()
            throw error
        }
    }

    func fetchChannel(session: HTTPSession) async throws(UpdateError) -> ChannelFetch {
        let feed = try UpdateFeed(options.feed)
        let channelName = options.target.channelFileName(channel: options.channel)
        var warnings: [String] = []
        func warn(_ message: String) { warnings.append(message) }
        let channelURL = feed.channelFileURL(name: channelName, headers: options.headers)
        var channelHeaders: [(String, String)] = []
        if let id = options.stagingID { channelHeaders.append(("x-user-staging-id", id)) }
        let channelBytes = try await session.fetch(channelURL, what: "channel file \(channelName)", limit: FeedLimits.channelFile,
                                                   extraHeaders: channelHeaders)!
        let info: UpdateInfo
        var verifiedState: MetadataVerifierState?
        if let key = options.publicKey {
            let signatureURL = UpdateFeed.signatureURL(forChannelFile: channelURL)
            // With the staging id too: a server that stages signed channel files answers a user
            // outside the rollout with the fallback's signature (StagedFallback).
            let signature = try await session.fetch(signatureURL, what: "signature \(channelName)\(ReleaseLayout.signatureSuffix)",
                                                    limit: FeedLimits.signature, extraHeaders: channelHeaders, missingIsNil: true)
            var state: MetadataVerifierState
            do {
                state = try options.statePath.map(MetadataVerifierState.load(path:)) ?? MetadataVerifierState()
            } catch {
                throw Self.releaseError(error)
            }
            do {
                info = try MetadataVerifier(publicKey: key).verify(
                    name: channelName, content: channelBytes,
                    signature: signature.map { String(decoding: $0, as: UTF8.self) }, state: &state)
            } catch {
                throw UpdateError(.checkFailed, error.description)
            }
            verifiedState = state
        } else {
            do {
                let document = try ChannelDocument(bytes: channelBytes)
                for w in document.warnings { warn("\(channelName): \(w)") }
                info = document.info
            } catch {
                throw UpdateError(.invalidData, "\(channelName) (\(HTTPSession.display(channelURL))): \(error.message)")
            }
        }

        return ChannelFetch(info: info, url: channelURL, name: channelName, warnings: warnings, verifiedState: verifiedState)
    }

    // MARK: - Blockmaps and plans

    enum TargetBlockmap {
        /// No blockmap (the reason to tell the user, if any): download the whole file.
        case missing(String?)
        case separate(Blockmap)
        /// The blockmap appended to the artifact, the tail holding it, the artifact's size.
        case embedded(Blockmap, tail: [UInt8], size: Int)
    }

    private func fetchBlockmap(file: UpdateFileInfo, url: URL, session: HTTPSession) async throws(UpdateError) -> TargetBlockmap {
        if let blockMapSize = file.blockMapSize {
            guard let size = file.size else {
                throw UpdateError(.invalidData, "\(file.url) has blockMapSize but no size: the embedded blockmap cannot be located")
            }
            guard blockMapSize > 0, blockMapSize + 4 <= size else {
                throw UpdateError(.invalidData, "\(file.url): blockMapSize \(blockMapSize) does not fit in a file of \(size) bytes")
            }
            let range = ByteRange(offset: size - blockMapSize - 4, length: blockMapSize + 4)
            guard let tail = try await session.fetchRange(url, range, totalSize: size, what: "embedded blockmap of \(file.url)") else {
                return .missing("the server ignores Range (answered 200 to the embedded blockmap's range): downloading the whole file")
            }
            let length: Int
            do {
                length = try BlockmapCodec.embeddedLength(trailer: Array(tail.suffix(4)), fileSize: size)
            } catch {
                throw UpdateError(.invalidData, "\(file.url): embedded blockmap: \(error.description)")
            }
            guard length == blockMapSize else {
                throw UpdateError(.invalidData, "\(file.url): the embedded blockmap is \(length) bytes, the channel file says blockMapSize \(blockMapSize)")
            }
            do {
                return .embedded(try BlockmapCodec.decodeEmbedded(Array(tail.prefix(blockMapSize))), tail: tail, size: size)
            } catch {
                throw UpdateError(.invalidData, "\(file.url): embedded blockmap: \(error.description)")
            }
        }
        let blockmapURL = UpdateFeed.blockmapURL(forFile: url)
        guard let bytes = try await session.fetch(blockmapURL, what: "blockmap", limit: BlockmapCodec.maxDecodedSize,
                                                  missingIsNil: true) else {
            return .missing("\(HTTPSession.display(blockmapURL)) does not exist: downloading the whole file")
        }
        do {
            return .separate(try BlockmapCodec.decodeGzip(bytes))
        } catch {
            throw UpdateError(.invalidData, "blockmap \(HTTPSession.display(blockmapURL)): \(error.description)")
        }
    }

    /// Chunks the installed file on a thread of its own (with its SHA-512 when `inPlace`), and
    /// stops within one window once the calling task is cancelled. Returns the chunks and the
    /// seconds it took.
    static func chunkInstalled(_ path: String, size: Int, inPlace: Bool,
                               observer: any UpdateObserver) async -> Result<(LocalChunks, Double), UpdateError> {
        let started = ContinuousClock.now
        let stop = CancelFlag()
        observer.begin("chunking", total: size)
        defer { observer.end() }
        do {
            let chunks = try await withTaskCancellationHandler {
                try await onThread("blockyard-chunk") { () throws -> LocalChunks in
                    if inPlace {
                        let r = try BlockmapGenerator.generate(path: path, progress: { observer.advance($0) },
                                                               isCancelled: { stop.isSet })
                        return LocalChunks(blockmap: r.blockmap, size: r.size, sha512: r.sha512)
                    }
                    let r = try BlockmapGenerator.chunk(path: path, progress: { observer.advance($0) },
                                                        isCancelled: { stop.isSet })
                    return LocalChunks(blockmap: r.blockmap, size: r.size, sha512: nil)
                }
            } onCancel: {
                stop.set()
            }
            return .success((chunks, PlanDownload.seconds(ContinuousClock.now - started)))
        } catch is CancellationError {
            return .failure(UpdateError(.io, "\(path): chunking interrupted", transient: true))
        } catch {
            return .failure(PlanDownload.describe(error))
        }
    }

    /// The installed file as chunked locally (its SHA-512 only when updating in place).
    struct LocalChunks: Sendable {
        var blockmap: Blockmap
        var size: Int
        var sha512: Digest?
    }

    private func makePlan(_ target: Blockmap, source: String, size: Int?, local: LocalChunks) throws(UpdateError) -> DeltaPlan {
        let seed = PlanSeedInput(path: options.installed, size: local.size, blockmap: local.blockmap)
        let cost = PlanCostModel(maxRangesPerRequest: max(1, options.download.maxRangesPerRequest), maxOps: 0)
        do {
            return try DeltaPlanner.plan(target: target, seeds: [seed],
                                         options: PlanOptions(mode: .blockyard, costModel: cost, includeChunks: true,
                                                              expectedTargetSize: size, targetBlockmapPath: source))
        } catch {
            throw UpdateError(.invalidData, "\(source): \(error.description)")
        }
    }

    /// The plan of a full download: one fetch of the whole file.
    static func fullPlan(size: Int?, url: String) throws(UpdateError) -> DeltaPlan {
        guard let size else {
            throw UpdateError(.invalidData, "\(url): the channel file gives no size and there is no blockmap to take it from")
        }
        let cost = PlanCostModel(maxOps: 0)
        let operations = size > 0 ? [PlanOperation.fetch(targetOffset: 0, length: size)] : []
        return DeltaPlan(mode: .blockyard, costModel: cost,
                         target: PlanTarget(size: size, blockmapVersion: "", chunkCount: 0),
                         seeds: [],
                         totals: PlanTotals(operations: operations, targetSize: size, mode: .blockyard, costModel: cost,
                                            gapBytes: 0, fetchedChunks: 0),
                         operations: operations)
    }

    /// An embedded blockmap describes the file without its tail: the plan gets one more
    /// operation (the tail, already downloaded) and one more chunk (so it is checked too).
    static func appendingTail(_ tail: [UInt8], to plan: DeltaPlan) -> DeltaPlan {
        var plan = plan
        let start = plan.target.size
        plan.operations.append(.fetch(targetOffset: start, length: tail.count, sourceOffset: plan.target.entryOffset + start))
        plan.target.size += tail.count
        plan.target.chunkCount += 1
        if var chunks = plan.target.chunks {
            chunks.sizes.append(tail.count)
            chunks.checksums.append(tail.withUnsafeBytes { BLAKE2b.chunkChecksum($0) })
            plan.target.chunks = chunks
        }
        plan.totals = PlanTotals(operations: plan.operations, targetSize: plan.target.size, mode: plan.mode,
                                 costModel: plan.costModel, gapBytes: plan.totals.gapBytes,
                                 fetchedChunks: plan.totals.fetchedChunks + 1)
        return plan
    }

    // MARK: - Helpers

    /// electron-updater's `isStagingMatch`: in the rollout iff the UUID's last four bytes, as
    /// a big-endian fraction of 0xffffffff, are below the percentage. An id that is not a
    /// UUID is hashed (SHA-256) to four bytes instead.
    public static func isInRollout(stagingID: String, percentage: Int) -> Bool {
        StagingRule.isIncluded(position: StagingRule.position(stagingID: stagingID), percentage: percentage)
    }

    static func regularFileSize(_ path: String) throws(UpdateError) -> Int {
        let input: FileInput
        do {
            input = try FileInput(path: path)
        } catch {
            throw UpdateError(error.kind == .io || error.kind == .other ? .io : .missingInput, error.description)
        }
        guard let size = input.regularFileSize else {
            throw UpdateError(.missingInput, "\(path): the installed file is not a regular file")
        }
        return size
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    static func releaseError(_ error: ReleaseError) -> UpdateError {
        UpdateError(error.kind, error.message)
    }
}

/// A flag set once from any thread (a task's cancellation handler) and polled by a thread
/// that is not a task (the chunker).
final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
