import BlockyardCore
import BlockyardIO
import Foundation

/// What fetching a plan's ranges over HTTP and building the file did.
public struct PlanDownloadReport: Codable, Equatable, Sendable {
    public var download: RangeDownloadReport
    public var apply: FileApplyReport
    /// Seconds spent downloading, and building plus verifying plus renaming.
    public var downloadSeconds: Double
    public var applySeconds: Double
}

/// Executes a plan whose fetch operations come from an HTTP URL (the new file on a server):
///
/// 1. The fetch ranges are downloaded by ``RangeDownloader`` into the ``PartialDownload``
///    beside the output: several in parallel, multipart where the server allows, every
///    chunk checked against the plan's BLAKE2b-18 checksums, resumable.
/// 2. ``FileApplier`` builds the file from the seeds and the partial download (a local
///    range source) into a temporary file beside the output, computes its SHA-512 by reading
///    it back from disk, and only then fsyncs and renames it over the output.
/// 3. The partial download is removed after success and after most failures; it stays for
///    the next attempt only after a transient network failure, when it holds checked bytes
///    (``PartialDownload``).
///
/// Downloading first and building after keeps the two concerns apart: the network part can
/// run connections in parallel, retry and resume without ever touching the output, and the
/// build is the same verified, atomic step as a local `blockyard apply`. The cost is one
/// extra local write and read of the fetched bytes only (not of the whole file).
public enum PlanDownload {
    public static func run(
        plan: DeltaPlan, url: URL, resourceSize: Int?, expectedSHA512: [UInt8], out: String,
        seedPaths: [Int: String] = [:], expectedSize: Int? = nil, verifyChunks: Bool = false,
        preloaded: [(offset: Int, bytes: [UInt8])] = [],
        session: HTTPSession, options: RangeDownloadOptions = RangeDownloadOptions(),
        observer: any UpdateObserver = SilentUpdateObserver()
    ) async throws(UpdateError) -> PlanDownloadReport {
        do {
            try plan.validate()
        } catch {
            throw UpdateError(.invalidData, "invalid plan: \(error.description)")
        }
        let chunks = ChunkTable(plan: plan)
        var needed = ByteIntervals()
        for op in plan.operations where op.kind == .fetch && op.length > 0 {
            needed.insert(op.sourceOffset..<(op.sourceOffset + op.length))
        }
        for (offset, bytes) in preloaded { needed.remove(offset..<(offset + bytes.count)) }
        let partialSize = max(resourceSize ?? 0, needed.ranges.last?.upperBound ?? 0,
                              preloaded.map { $0.offset + $0.bytes.count }.max() ?? 0)
        // Sizes no file could have are refused before anything is created.
        try FeedLimits.checkSize(max(partialSize, plan.target.size), out: out, what: HTTPSession.display(url))
        let partial = try PartialDownload(destination: out, sha512: Base64.encode(expectedSHA512), size: partialSize,
                                          source: HTTPSession.display(url), chunks: chunks)
        defer { partial.closeFile() }
        do {
            for (offset, bytes) in preloaded { try partial.write(bytes, at: offset) }
        } catch {
            partial.remove()
            throw error
        }

        let started = ContinuousClock.now
        observer.begin("downloading", total: needed.byteCount)
        let download: RangeDownloadReport
        do {
            download = try await RangeDownloader.download(url: url, needed: needed, resourceSize: resourceSize, into: partial,
                                                         session: session, options: options,
                                                         progress: { observer.advance($0) })
            observer.end()
        } catch {
            observer.end()
            // Kept only for a retry that can use it: see PartialDownload.
            if !(error.transient && partial.isResumable) { partial.remove() }
            throw error
        }
        let downloaded = ContinuousClock.now

        observer.begin("building", total: plan.target.size)
        let applied: FileApplyReport
        do {
            applied = try await onThread("blockyard-apply") {
                let source = try partial.rangeSource()
                return try FileApplier.apply(plan: plan, source: source, to: out, expectedSHA512: expectedSHA512,
                                      options: FileApplyOptions(seedPaths: seedPaths, expectedSize: expectedSize,
                                                                verifyChunks: verifyChunks,
                                                                progress: { observer.advance($0) }))
            }
            observer.end()
        } catch {
            observer.end()
            // Not a network failure: a retry has no use for the downloaded bytes (a failed check
            // cannot trust them), so nothing is left behind.
            partial.remove()
            throw Self.describe(error)
        }
        partial.remove()
        let built = ContinuousClock.now
        return PlanDownloadReport(download: download, apply: applied,
                                  downloadSeconds: Self.seconds(downloaded - started), applySeconds: Self.seconds(built - downloaded))
    }

    /// Maps apply errors to update errors (and so to exit codes).
    static func describe(_ error: any Error) -> UpdateError {
        switch error {
        case let e as UpdateError:
            return e
        case let e as ApplyError:
            if case .invalidExpectedDigest = e { return UpdateError(.usage, e.description) }
            return UpdateError(.checkFailed, e.description)
        case let e as PlanFormatError:
            return UpdateError(.invalidData, e.description)
        case let e as FileApplyError:
            switch e {
            case .seed(_, let f):
                switch f.kind {
                case .notFound, .isDirectory, .permissionDenied, .notRegularFile: return UpdateError(.missingInput, e.description)
                case .io, .other: return UpdateError(.io, e.description)
                }
            case .source: return UpdateError(.io, e.description)
            case .createOutput: return UpdateError(.cannotCreate, e.description)
            case .writeOutput: return UpdateError(.io, e.description)
            }
        case let e as FileError:
            return UpdateError(.io, e.description)
        default:
            return UpdateError(.io, "\(error)")
        }
    }

    static func seconds(_ d: Duration) -> Double {
        let c = d.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
