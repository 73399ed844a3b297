import AsyncHTTPClient
import BlockyardCore
import Foundation
import NIOCore
import Synchronization

/// Options of ``RangeDownloader``.
public struct RangeDownloadOptions: Sendable, Equatable {
    /// Parallel connections once the server's range support is known (the first request
    /// goes alone: it finds out whether the server does multipart, single ranges or neither).
    public var connections: Int
    /// Most ranges in one multi-range request.
    public var maxRangesPerRequest: Int
    /// Longest `Range` header value. nginx answers 400 to request headers over 8 KiB with its
    /// default `large_client_header_buffers`, Google Cloud Storage likewise; ~6 000 characters
    /// are 250–350 ranges. A 400/413/414/431 answer to a multi-range request halves it.
    public var maxRangeHeaderLength: Int
    /// Whether to ask for several ranges per request (multipart/byteranges).
    public var multipart: Bool
    /// Requests are not made smaller than this (unless less is left to fetch): parallelism
    /// splits the work into about two requests per connection above it.
    public var minimumRequestBytes: Int
    /// The ranges are a download of the whole file (no delta): each request says so with
    /// `X-Blockyard-Full-Download: 1`, for a server's update analytics.
    public var wholeFile = false

    public init(connections: Int = 4, maxRangesPerRequest: Int = 500, maxRangeHeaderLength: Int = 6000,
                multipart: Bool = true, minimumRequestBytes: Int = 4 << 20) {
        self.connections = connections
        self.maxRangesPerRequest = maxRangesPerRequest
        self.maxRangeHeaderLength = maxRangeHeaderLength
        self.multipart = multipart
        self.minimumRequestBytes = minimumRequestBytes
    }
}

/// What a download did.
public struct RangeDownloadReport: Codable, Equatable, Sendable {
    /// Bytes that had to be downloaded when this run started.
    public var neededBytes = 0
    /// Bytes found complete (and re-checked) in the partial download of an earlier run.
    public var resumedBytes = 0
    /// Bytes downloaded and written (each checked, when chunk checksums are known).
    public var payloadBytes = 0
    /// Range requests sent (retries included).
    public var rangeRequests = 0
    /// Ranges asked for, all range requests together.
    public var rangesRequested = 0
    /// Full-body (200) responses read: a server that ignores Range.
    public var fullBodyResponses = 0
    /// Chunks that arrived with the wrong checksum (and were fetched again).
    public var corruptChunks = 0
    /// How the bytes came: `multipart` (multi-range requests answered with
    /// multipart/byteranges), `ranges` (single-range requests only: one range was needed,
    /// or the server does not do multipart), `full-body` (the server ignores Range: the bytes
    /// were read from a plain download, stopped once every needed byte was in), or `none`
    /// (nothing to download).
    public var transport = "none"

    public init() {}
}

/// Downloads byte ranges of one URL into a ``PartialDownload``: the fewest requests the
/// server allows, a few in parallel, each retried with backoff, every chunk checked.
///
/// * **Probe.** The first request goes alone. A multi-range request answered with
///   `206 multipart/byteranges` means multipart works; answered with `200` (nginx
///   `max_ranges 1`, Apache over `MaxRanges`, S3, many CDNs) the response is abandoned at
///   once and the ranges are requested one per request. A single range answered with `200`
///   means the server ignores Range: that response *is* a plain download of the whole file
///   and is used as one right away (see below). Then the other connections start.
/// * **Answers are checked**, never trusted: each multipart part must carry the
///   Content-Range of the next requested range (``MultipartByterangesParser``), a single
///   part must state where it starts, the total size must be the expected one. A server
///   that merges ranges into one part is used if the part wastes little, else multipart is
///   given up for single ranges; malformed multipart bodies likewise.
/// * **200 full bodies.** The body is read as a plain download: needed bytes are written as
///   they pass, the rest is skipped, and the request is abandoned as soon as no needed byte
///   is left after the current position. Every other request in flight is cancelled first
///   and waited for (electron-updater defect #2: nothing else may write into the file).
/// * **Retries.** Connection errors, timeouts, truncated bodies, 408/425/429/5xx and chunks
///   with a wrong checksum are retried with exponential backoff (`Retry-After` honoured);
///   an attempt that made progress resets the count. Only what is still missing is asked
///   for again. Other 4xx end the download.
/// * **Resume.** Completed ranges are recorded in the partial download's journal about once a
///   second, and when the download ends for any reason.
public enum RangeDownloader {
    /// Downloads `needed` (offsets in the served file) from `url` into `partial`.
    /// - Parameters:
    ///   - resourceSize: the served file's size when known (checked against `Content-Range`
    ///     and full bodies).
    ///   - progress: called with the number of newly completed bytes.
    public static func download(
        url: URL, needed: ByteIntervals, resourceSize: Int?, into partial: PartialDownload,
        session: HTTPSession, options: RangeDownloadOptions = RangeDownloadOptions(),
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws(UpdateError) -> RangeDownloadReport {
        var wanted = ByteIntervals()
        for r in needed.ranges {
            wanted.insert(partial.chunks?.aligned(r) ?? r)
        }
        let run = DownloadRun(url: url, wanted: wanted, resourceSize: resourceSize, partial: partial,
                              session: session, options: options, progress: progress)
        do {
            try await run.run()
        } catch {
            run.checkpoint(force: true)
            throw error
        }
        run.checkpoint(force: true)
        return run.report
    }
}

/// Whether the server does what a request needs.
private struct ServerSupport {
    /// Single ranges answered with 206 (nil: not known yet).
    var ranges: Bool?
    /// Multi-range requests answered with usable 206 responses (nil: not known yet).
    var multipart: Bool?
}

private struct RunState {
    var queue: [Range<Int>] = []
    var complete: ByteIntervals
    var support = ServerSupport()
    var rangesPerRequest: Int
    var headerLength: Int
    /// A multi-range request is in flight while multipart support is unknown. Only one at a
    /// time: a server that refuses them costs one abandoned response, not one per connection.
    var multipartProbe = false
    var report = RangeDownloadReport()
    var sinceCheckpoint = 0
    var lastCheckpoint = ContinuousClock.now
    var failuresByChunk: [Int: Int] = [:]
}

/// One download: the shared state of its workers.
private final class DownloadRun: @unchecked Sendable {
    let url: URL
    let resourceSize: Int?
    let partial: PartialDownload
    let chunks: ChunkTable?
    let session: HTTPSession
    let options: RangeDownloadOptions
    let progress: (@Sendable (Int) -> Void)?
    let wanted: ByteIntervals
    let unitBytes: Int
    let state: Mutex<RunState>
    let checkpointing = Mutex(false)

    init(url: URL, wanted: ByteIntervals, resourceSize: Int?, partial: PartialDownload, session: HTTPSession,
         options: RangeDownloadOptions, progress: (@Sendable (Int) -> Void)?) {
        self.url = url
        self.wanted = wanted
        self.resourceSize = resourceSize
        self.partial = partial
        chunks = partial.chunks
        self.session = session
        self.options = options
        self.progress = progress
        var remaining = wanted
        remaining.remove(partial.resumed)
        let total = remaining.byteCount
        unitBytes = max(options.minimumRequestBytes, (total + 2 * max(1, options.connections) - 1) / (2 * max(1, options.connections)))
        var s = RunState(complete: partial.resumed, rangesPerRequest: max(1, options.maxRangesPerRequest),
                         headerLength: max(64, options.maxRangeHeaderLength))
        s.report.neededBytes = total
        s.report.resumedBytes = wanted.byteCount - total
        if !options.multipart { s.support.multipart = false }
        // Pieces of at most unitBytes, cut at chunk boundaries, so connections share big ranges.
        for r in remaining.ranges {
            var start = r.lowerBound
            while r.upperBound - start > unitBytes {
                let cut = chunks?.boundaries(inside: (start + unitBytes)..<r.upperBound).first
                    ?? (chunks == nil ? start + unitBytes : nil)
                guard let cut, cut < r.upperBound else { break }
                s.queue.append(start..<cut)
                start = cut
            }
            s.queue.append(start..<r.upperBound)
        }
        state = Mutex(s)
    }

    var report: RangeDownloadReport { state.withLock { $0.report } }

    private var remainingBytes: Int {
        state.withLock { s in
            var left = wanted
            left.remove(s.complete)
            return left.byteCount
        }
    }

    // MARK: - Scheduling

    func run() async throws(UpdateError) {
        if state.withLock({ $0.queue.isEmpty }) { return }
        let fullBody: OpenResponse?
        do {
            fullBody = try await withThrowingTaskGroup(of: OpenResponse?.self) { group in
                let workers = max(1, options.connections)
                group.addTask { try await self.worker(first: true) }
                for _ in 1..<workers {
                    group.addTask {
                        // Wait until the first answer told how the server handles ranges.
                        while !self.probed { try await Task.sleep(for: .milliseconds(5)) }
                        if self.state.withLock({ $0.support.ranges == false }) { return nil }
                        return try await self.worker(first: false)
                    }
                }
                while let result = try await group.next() {
                    if let response = result {
                        // The server ignores Range: stop everything else before reading it.
                        group.cancelAll()
                        while (try? await group.next()) != nil {}
                        return response
                    }
                }
                return nil
            }
        } catch let error as UpdateError {
            throw error
        } catch {
            // Cancelled (the caller gave up, or the task was cancelled from outside).
            throw UpdateError(.io, "\(HTTPSession.display(url)): interrupted (\(error))", transient: true)
        }
        if let fullBody {
            try await readFullBodies(first: fullBody)
        }
        state.withLock { s in
            s.report.transport = s.report.fullBodyResponses > 0 ? "full-body"
                : s.support.multipart == true ? "multipart" : s.report.rangeRequests > 0 ? "ranges" : "none"
        }
        let left = remainingBytes
        guard left == 0 else {
            throw UpdateError(.io, "\(HTTPSession.display(url)): \(left) bytes still missing after the download ended")
        }
    }

    /// The first answer told how the server handles ranges (or the first worker is done).
    private var probed: Bool {
        state.withLock { s in
            s.support.ranges != nil || s.support.multipart == true || firstDone
        }
    }
    private var firstDone: Bool { firstWorkerDone.withLock { $0 } }
    private let firstWorkerDone = Mutex(false)

    /// Takes the next request's ranges from the queue.
    private func claim() -> [Range<Int>]? {
        state.withLock { s in
            guard !s.queue.isEmpty else { return nil }
            if s.support.multipart == false || (s.support.multipart == nil && s.multipartProbe) {
                return [s.queue.removeFirst()]
            }
            var taken: [Range<Int>] = []
            var bytes = 0
            var header = 6
            while let next = s.queue.first, taken.count < s.rangesPerRequest {
                let text = "\(next.lowerBound)-\(next.upperBound - 1), ".utf8.count
                if !taken.isEmpty && (bytes >= unitBytes || header + text > s.headerLength) { break }
                taken.append(s.queue.removeFirst())
                bytes += next.count
                header += text
            }
            return taken
        }
    }

    /// Puts ranges back (in order) for another request.
    private func requeue(_ pieces: [Range<Int>]) {
        state.withLock { s in
            s.queue.append(contentsOf: pieces)
            s.queue.sort { $0.lowerBound < $1.lowerBound }
        }
    }

    /// The parts of `pieces` not complete yet, adjacent ones merged.
    private func missing(in pieces: [Range<Int>]) -> [Range<Int>] {
        state.withLock { s in
            var left = ByteIntervals(pieces)
            left.remove(s.complete)
            return left.ranges
        }
    }

    private func worker(first: Bool) async throws -> OpenResponse? {
        defer { if first { firstWorkerDone.withLock { $0 = true } } }
        while let pieces = claim() {
            var attempt = 0
            var left = missing(in: pieces)
            while !left.isEmpty {
                try Task.checkCancellation()
                let before = state.withLock { $0.complete.byteCount }
                let outcome: Outcome
                do throws(AttemptError) {
                    outcome = try await transfer(left)
                    if case .finished = outcome, state.withLock({ $0.complete.byteCount }) == before {
                        throw AttemptError.transient("the server answered with none of the requested bytes", retryAfter: nil)
                    }
                } catch {
                    switch error {
                    case .permanent(let e):
                        throw e
                    case .transient(let message, let retryAfter):
                        try Task.checkCancellation()
                        let progressed = state.withLock { $0.complete.byteCount } > before
                        attempt = progressed ? 1 : attempt + 1
                        guard attempt <= session.retry.retries else {
                            throw UpdateError(.io, "\(HTTPSession.display(url)): \(message) (gave up after \(attempt) attempt\(attempt == 1 ? "" : "s") without progress)", transient: true)
                        }
                        session.countRetry()
                        try await Task.sleep(for: .seconds(session.retry.delay(attempt: attempt, retryAfter: retryAfter)))
                        left = missing(in: left)
                        continue
                    }
                }
                switch outcome {
                case .finished:
                    left = missing(in: left)
                    if !left.isEmpty {
                        // The server sent less than asked (a partial 206): ask for the rest.
                        continue
                    }
                case .requeue:
                    requeue(missing(in: left))
                    left = []
                case .fullBody(let response):
                    requeue(missing(in: left))
                    return response
                }
            }
        }
        return nil
    }

    private enum Outcome {
        /// The response was read; whatever is still missing is asked for again.
        case finished
        /// Put the ranges back: requests must change shape (single ranges, fewer ranges).
        case requeue
        /// The server ignores Range: this response is the whole file.
        case fullBody(OpenResponse)
    }

    // MARK: - One request

    private func transfer(_ ranges: [Range<Int>]) async throws(AttemptError) -> Outcome {
        let byteRanges = ranges.map { ByteRange(offset: $0.lowerBound, length: $0.count) }
        let probing = ranges.count > 1 ? state.withLock { s -> Bool? in
            guard s.support.multipart == nil else { return false }
            if s.multipartProbe { return nil }
            s.multipartProbe = true
            return true
        } : false
        guard let probing else {
            // Another connection is finding out whether multipart works: one range at a time.
            return .requeue
        }
        defer { if probing { state.withLock { $0.multipartProbe = false } } }
        state.withLock {
            $0.report.rangeRequests += 1
            $0.report.rangesRequested += ranges.count
        }
        let response: OpenResponse
        do {
            response = try await session.open(url, extraHeaders: [("Range", RangeHeader.value(for: byteRanges)),
                                                                    ("Accept-Encoding", "identity")]
                                                  + (options.wholeFile ? [("X-Blockyard-Full-Download", "1")] : []))
        } catch {
            throw AttemptError.classify(error)
        }
        switch response.status {
        case 206:
            let type = response.header("Content-Type") ?? ""
            if type.lowercased().hasPrefix("multipart/") {
                return try await readMultipart(response, byteRanges)
            }
            return try await readSinglePart(response, requested: ranges)
        case 200:
            if ranges.count > 1 {
                // Multi-range refused (nginx max_ranges, Apache MaxRanges, S3, CDNs): abandon
                // this body unread and ask for one range per request.
                session.countAbort()
                state.withLock { $0.support.multipart = false }
                return .requeue
            }
            state.withLock { $0.support.ranges = false }
            return .fullBody(response)
        case 400, 413, 414, 431:
            guard ranges.count > 1 else {
                throw AttemptError.status(response.status, retryAfter: nil, what: HTTPSession.display(url))
            }
            // A Range header too long for the server: fewer ranges per request.
            let shrunk = state.withLock { s -> Bool in
                guard s.headerLength > 200 else { return false }
                s.headerLength /= 2
                s.rangesPerRequest = max(1, min(s.rangesPerRequest, ranges.count / 2))
                return true
            }
            if !shrunk { state.withLock { $0.support.multipart = false } }
            return .requeue
        case 416:
            throw .permanent(UpdateError(.io, "\(HTTPSession.display(url)): HTTP 416, the server cannot serve bytes \(byteRanges.first!.first)-\(byteRanges.last!.last): its file is not the one the metadata describes"))
        case 404, 410:
            throw .permanent(UpdateError(.missingInput, "\(HTTPSession.display(url)): HTTP \(response.status) not found"))
        default:
            throw AttemptError.status(response.status, retryAfter: response.header("Retry-After"), what: HTTPSession.display(url))
        }
    }

    private func readMultipart(_ response: OpenResponse, _ ranges: [ByteRange]) async throws(AttemptError) -> Outcome {
        var parser: MultipartByterangesParser
        do {
            parser = try MultipartByterangesParser(contentType: response.header("Content-Type") ?? "", expecting: ranges,
                                                totalSize: resourceSize)
        } catch {
            return try giveUpMultipart(ranges.count)
        }
        // Multipart works (unless the body turns out malformed): let the other connections go.
        state.withLock {
            $0.support.multipart = true
            $0.support.ranges = true
        }
        let sink = RangeSink(run: self, wanted: ranges.map(\.range), confirmEachWrite: false)
        var current = 0
        do {
            for try await buffer in response.body {
                try Task.checkCancellation()
                session.count(bodyBytes: buffer.readableBytes)
                try buffer.withUnsafeReadableBytes { raw in
                    try parser.feed(raw) { part, offset, bytes in
                        if part != current {
                            // The delimiter after the previous part was where it belongs.
                            sink.confirm()
                            current = part
                        }
                        try sink.receive(bytes, at: ranges[part].offset + offset)
                    }
                }
            }
            try parser.finish()
            sink.confirm()
        } catch let error as MultipartError {
            if case .truncated = error {
                throw .transient("the multipart response ended early (\(error))", retryAfter: nil)
            }
            // Parts merged, reordered, dropped or framed wrongly: keep what was checked and
            // fetch the rest one range per request.
            return try giveUpMultipart(ranges.count, error)
        } catch {
            throw AttemptError.classify(error)
        }
        return .finished
    }

    private func giveUpMultipart(_ rangeCount: Int, _ error: MultipartError? = nil) throws(AttemptError) -> Outcome {
        session.countAbort()
        guard rangeCount > 1 else {
            // Even a single range comes back as broken multipart: retry, then give up.
            throw .transient("malformed multipart response to a single range\(error.map { ": \($0)" } ?? "")", retryAfter: nil)
        }
        state.withLock { $0.support.multipart = false }
        return .requeue
    }

    /// A 206 with one part: one range asked for, or the server merged several into one.
    private func readSinglePart(_ response: OpenResponse, requested: [Range<Int>]) async throws(AttemptError) -> Outcome {
        guard let contentRange = response.header("Content-Range"), let (range, total) = ContentRange.parse(contentRange) else {
            throw .transient("206 response without a usable Content-Range", retryAfter: nil)
        }
        if let total, let resourceSize, total != resourceSize {
            throw .permanent(UpdateError(.io, "\(HTTPSession.display(url)): the server's file has \(total) bytes, the metadata says \(resourceSize): it is not the file the metadata describes"))
        }
        if requested.count > 1 {
            // Merged into one part: worth reading only when it wastes little.
            let useful = requested.reduce(0) { $0 + max(0, min($1.upperBound, range.upperBound) - max($1.lowerBound, range.lowerBound)) }
            if range.count > 2 * useful + (1 << 20) {
                session.countAbort()
                state.withLock { $0.support.multipart = false }
                return .requeue
            }
        }
        state.withLock { $0.support.ranges = true }
        let sink = RangeSink(run: self, wanted: requested, confirmEachWrite: true)
        try await readStream(response, from: range.lowerBound, length: range.count, sink: sink)
        return .finished
    }

    /// Reads a body that holds the served file's bytes from `start`, `length` bytes (or up to
    /// its end when unknown). Stops early once nothing wanted is left after the position.
    private func readStream(_ response: OpenResponse, from start: Int, length: Int?, sink: RangeSink) async throws(AttemptError) {
        var position = start
        do {
            for try await buffer in response.body {
                try Task.checkCancellation()
                session.count(bodyBytes: buffer.readableBytes)
                try buffer.withUnsafeReadableBytes { raw in
                    if let length, position + raw.count > start + length {
                        throw AttemptError.transient("the response has more bytes than its Content-Range says", retryAfter: nil)
                    }
                    try sink.receive(raw, at: position)
                }
                position += buffer.readableBytes
                if let lastWanted = sink.lastWanted, position >= lastWanted {
                    let rest = length.map { start + $0 - position } ?? Int.max
                    if rest > 1 << 20 {
                        // Nothing needed is left in this body: abandon it.
                        session.countAbort()
                        return
                    }
                }
            }
        } catch {
            throw AttemptError.classify(error)
        }
        if let length, position < start + length {
            throw .transient("the response ended after \(position - start) of \(length) bytes", retryAfter: nil)
        }
    }

    /// Reads 200 responses as plain downloads until every needed byte is in.
    private func readFullBodies(first: OpenResponse) async throws(UpdateError) {
        var response: OpenResponse? = first
        var attempt = 0
        while remainingBytes > 0 {
            let before = state.withLock { $0.complete.byteCount }
            do throws(AttemptError) {
                let current: OpenResponse
                if let response {
                    current = response
                } else {
                    do {
                        current = try await session.open(url)
                    } catch {
                        throw AttemptError.classify(error)
                    }
                    guard current.status == 200 else {
                        if current.status == 404 || current.status == 410 {
                            throw AttemptError.permanent(UpdateError(.missingInput, "\(HTTPSession.display(url)): HTTP \(current.status) not found"))
                        }
                        throw AttemptError.status(current.status, retryAfter: current.header("Retry-After"), what: HTTPSession.display(url))
                    }
                }
                response = nil
                let length = current.header("Content-Length").flatMap(Int.init)
                if let length, let resourceSize, length != resourceSize {
                    throw AttemptError.permanent(UpdateError(.io, "\(HTTPSession.display(url)): the server sent \(length) bytes for the whole file, the metadata says \(resourceSize): it is not the file the metadata describes"))
                }
                state.withLock {
                    $0.report.fullBodyResponses += 1
                    $0.support.ranges = false
                }
                let wantedNow = state.withLock { s -> [Range<Int>] in
                    var left = wanted
                    left.remove(s.complete)
                    return left.ranges
                }
                let sink = RangeSink(run: self, wanted: wantedNow, confirmEachWrite: true)
                try await readStream(current, from: 0, length: length ?? resourceSize, sink: sink)
            } catch {
                switch error {
                case .permanent(let e):
                    throw e
                case .transient(let message, let retryAfter):
                    let progressed = state.withLock { $0.complete.byteCount } > before
                    attempt = progressed ? 1 : attempt + 1
                    guard attempt <= session.retry.retries else {
                        throw UpdateError(.io, "\(HTTPSession.display(url)): \(message) (gave up after \(attempt) attempt\(attempt == 1 ? "" : "s") without progress)", transient: true)
                    }
                    session.countRetry()
                    do {
                        try await Task.sleep(for: .seconds(session.retry.delay(attempt: attempt, retryAfter: retryAfter)))
                    } catch {
                        throw UpdateError(.io, "cancelled", transient: true)
                    }
                }
            }
        }
    }

    // MARK: - Completion and checkpoints

    func markComplete(_ r: Range<Int>) {
        let snapshot = state.withLock { s -> ByteIntervals? in
            let before = s.complete.byteCount
            s.complete.insert(r)
            let added = s.complete.byteCount - before
            s.report.payloadBytes += added
            s.sinceCheckpoint += added
            // Without checksums each journal write costs an fdatasync of the partial file first.
            let (bytes, interval): (Int, Duration) = chunks == nil ? (256 << 20, .seconds(5)) : (16 << 20, .seconds(1))
            guard s.sinceCheckpoint >= bytes || ContinuousClock.now - s.lastCheckpoint >= interval else { return nil }
            s.sinceCheckpoint = 0
            s.lastCheckpoint = .now
            return s.complete
        }
        progress?(r.count)
        if let snapshot { record(snapshot) }
    }

    /// A chunk arrived with the wrong checksum. Twice for the same chunk means the server's
    /// file is not the one the blockmap describes.
    func corruptChunk(_ index: Int, range: Range<Int>) -> AttemptError {
        let count = state.withLock { s -> Int in
            s.report.corruptChunks += 1
            s.failuresByChunk[index, default: 0] += 1
            return s.failuresByChunk[index]!
        }
        let what = "bytes \(range.lowerBound)-\(range.upperBound - 1) (chunk \(index)) of \(HTTPSession.display(url)) do not match the new blockmap"
        if count >= 2 {
            return .permanent(UpdateError(.checkFailed, "\(what), twice: the file on the server is not the one its blockmap describes (blockmap made before signing, or the file replaced under the same URL)"))
        }
        return .transient(what, retryAfter: nil)
    }

    func checkpoint(force: Bool) {
        let snapshot = state.withLock { s -> ByteIntervals in
            s.sinceCheckpoint = 0
            s.lastCheckpoint = .now
            return s.complete
        }
        record(snapshot, wait: force)
    }

    private func record(_ snapshot: ByteIntervals, wait: Bool = false) {
        // One journal write at a time; a skipped one is covered by the next.
        if !wait {
            let busy = checkpointing.withLock { busy -> Bool in
                if busy { return true }
                busy = true
                return false
            }
            if busy { return }
            defer { checkpointing.withLock { $0 = false } }
            try? partial.record(snapshot)
        } else {
            try? partial.record(snapshot)
        }
    }
}

/// Receives one response's bytes, in increasing offsets: writes the wanted ones into the
/// partial file and marks them complete once checked.
private final class RangeSink {
    let run: DownloadRun
    /// What this response may fill, sorted.
    let wanted: [Range<Int>]
    /// Without checksums: writes are complete as soon as written (single part, full body),
    /// or once the multipart framing after them was seen (``confirm()``).
    let confirmEachWrite: Bool
    private var unconfirmed: [Range<Int>] = []
    /// The chunk being hashed: its index, the next offset expected, the hasher.
    private var chunk: (index: Int, next: Int, hasher: BLAKE2b)?

    init(run: DownloadRun, wanted: [Range<Int>], confirmEachWrite: Bool) {
        self.run = run
        self.wanted = wanted
        self.confirmEachWrite = confirmEachWrite
    }

    var lastWanted: Int? { wanted.last?.upperBound }

    /// Offsets arrive in increasing order: wanted ranges before `cursor` are behind.
    private var cursor = 0

    func receive(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(AttemptError) {
        let span = offset..<(offset + bytes.count)
        while cursor < wanted.count && wanted[cursor].upperBound <= span.lowerBound { cursor += 1 }
        var i = cursor
        while i < wanted.count && wanted[i].lowerBound < span.upperBound {
            let w = wanted[i]
            let lower = max(w.lowerBound, span.lowerBound), upper = min(w.upperBound, span.upperBound)
            if lower < upper {
                try take(UnsafeRawBufferPointer(rebasing: bytes[(lower - offset)..<(upper - offset)]), at: lower)
            }
            i += 1
        }
    }

    private func take(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(AttemptError) {
        guard let chunks = run.chunks else {
            do {
                try run.partial.write(bytes, at: offset)
            } catch {
                throw .permanent(error)
            }
            let r = offset..<(offset + bytes.count)
            if confirmEachWrite { run.markComplete(r) } else { unconfirmed.append(r) }
            return
        }
        var position = offset
        let end = offset + bytes.count
        while position < end {
            if chunk == nil || chunk!.next != position {
                // Start hashing at a chunk boundary; bytes before one cannot be checked.
                chunk = nil
                guard let index = chunks.chunk(containing: position) else { return }
                let r = chunks.range(of: index)
                if r.lowerBound != position {
                    position = r.upperBound
                    continue
                }
                chunk = (index, position, BLAKE2b(digestLength: ChunkChecksum.byteCount))
            }
            let index = chunk!.index
            let r = chunks.range(of: index)
            let n = min(end, r.upperBound) - position
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(position - offset)..<(position - offset + n)])
            do {
                try run.partial.write(piece, at: position)
            } catch {
                throw .permanent(error)
            }
            chunk!.hasher.update(piece)
            chunk!.next += n
            position += n
            if chunk!.next == r.upperBound {
                let actual = ChunkChecksum(bytes: chunk!.hasher.finalize())
                chunk = nil
                guard actual == chunks.checksums[index] else { throw run.corruptChunk(index, range: r) }
                run.markComplete(r)
            }
        }
    }

    /// The multipart framing so far was right: what was written is complete.
    func confirm() {
        for r in unconfirmed { run.markComplete(r) }
        unconfirmed.removeAll()
    }
}
