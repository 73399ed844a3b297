import BlockyardCore
import BlockyardIO
import Crypto
import Foundation

public struct PublishOptions: Sendable {
    public var directory: String
    public var destination: S3Location
    /// Files larger than this go up in parts of this size (5 MiB…5 GiB; grown if a file
    /// would need more than 10,000 parts).
    public var partSize: Int
    /// Parts uploaded in parallel.
    public var jobs: Int
    /// Work out and report the actions (with read-only requests) without changing the bucket.
    public var dryRun: Bool
    /// Replace immutable objects (artifacts, blockmaps) that exist with different content.
    public var force: Bool

    public static let defaultPartSize = 64 << 20
    public static let minimumPartSize = 5 << 20
    public static let maximumPartSize = 5 << 30
    public static let maximumParts = 10_000

    public init(directory: String, destination: S3Location, partSize: Int = defaultPartSize, jobs: Int = 4,
                dryRun: Bool = false, force: Bool = false) {
        self.directory = directory
        self.destination = destination
        self.partSize = partSize
        self.jobs = jobs
        self.dryRun = dryRun
        self.force = force
    }
}

/// What publishing did (or, in a dry run, would do) with one file.
public enum PublishAction: String, Sendable, Encodable {
    /// The object is new.
    case upload
    /// An object with the same SHA-256 (or, for objects uploaded by other tools, the same
    /// single-part MD5 ETag) is already there.
    case skip
    /// The object exists with other content and is replaced (mutable files; immutable ones
    /// only with `force`).
    case replace
}

public struct PublishedItem: Sendable, Encodable {
    public var path: String
    public var key: String
    public var size: Int
    public var kind: PublishFileKind
    public var action: PublishAction
    /// Number of parts for a multipart upload; nil for a single PUT or a skip.
    public var parts: Int?
    public var contentType: String
    public var cacheControl: String
}

public struct PublishReport: Sendable, Encodable {
    public var destination: String
    public var dryRun: Bool
    public var items: [PublishedItem]
    public var uploadedObjects: Int
    public var uploadedBytes: Int
    public var skippedObjects: Int
    /// Incomplete multipart uploads (of keys this run writes) left by an interrupted run, aborted.
    public var abortedStaleUploads: Int
    public var warnings: [String]
}

/// Publishes a release directory to S3 so that clients never see metadata pointing at missing
/// files:
///
/// 1. Every local file is hashed (SHA-256) and its object looked up (HEAD). Objects whose
///    `x-amz-meta-sha256` matches are skipped, so a rerun after a failure uploads only what is
///    missing. An artifact or blockmap that exists with other content stops the run before
///    anything is written (immutable URLs; `force` overrides).
/// 2. Every channel file is checked: each file it lists (resolved against the prefix) must be
///    in the bucket or in this upload. Otherwise nothing is uploaded.
/// 3. Artifacts and blockmaps go up first, then version metadata, then each channel file's
///    signature and the channel file itself, only after everything before succeeded. Files
///    larger than the part size use multipart uploads (parallel parts, each retried; the
///    upload is aborted on failure and its size and checksum verified when complete).
public final class Publisher: Sendable {
    public let client: S3Client
    public let options: PublishOptions

    public init(client: S3Client, options: PublishOptions) {
        self.client = client
        self.options = options
    }

    /// The part size used for a file of `size` bytes: the configured size, grown to stay
    /// within 10,000 parts (rounded up to a whole MiB).
    public func partSize(for size: Int) -> Int {
        let needed = (size + PublishOptions.maximumParts - 1) / PublishOptions.maximumParts
        let grown = ((needed + (1 << 20) - 1) >> 20) << 20
        return max(options.partSize, grown)
    }

    /// Runs the publish. `onItem` is called as each file is done (or decided, in a dry run);
    /// `progress` with uploaded byte counts, from any thread.
    public func run(onItem: ((PublishedItem) -> Void)? = nil,
                    progress: (@Sendable (Int) -> Void)? = nil) throws(ReleaseError) -> PublishReport {
        guard (PublishOptions.minimumPartSize...PublishOptions.maximumPartSize).contains(options.partSize) else {
            throw ReleaseError(.usage, "part size must be between 5 MiB and 5 GiB")
        }
        let bucket = options.destination.bucket
        let items = try PublishPlan.make(directory: options.directory, destination: options.destination)
        guard !items.isEmpty else { throw ReleaseError(.missingInput, "\(options.directory) has nothing to publish") }

        // 1. Compare with the bucket.
        var decided: [(PublishItem, PublishAction)] = []
        var conflicts: [String] = []
        for item in items {
            let head = try s3 { () throws(S3Error) in try client.headObject(bucket: bucket, key: item.key) }
            let action: PublishAction
            if let head {
                if try isSame(item, head) {
                    action = .skip
                } else {
                    if item.kind == .artifact && !options.force { conflicts.append(item.key) }
                    action = .replace
                }
            } else {
                action = .upload
            }
            decided.append((item, action))
        }
        if !conflicts.isEmpty {
            throw ReleaseError(.cannotCreate, "\(conflicts.count == 1 ? "this object exists" : "these objects exist") in \(options.destination.bucket) with different content, and released files are immutable (clients and CDNs cache them forever); nothing was uploaded: \(conflicts.joined(separator: ", ")). Release a new version, or pass --force to replace them")
        }

        // 2. Channel files must only point at objects that will exist.
        let present = Set(items.filter { $0.kind != .channelFile && $0.kind != .channelSignature }.map(\.key))
        var warnings: [String] = []
        for item in items where item.kind == .channelFile {
            warnings += try checkReferences(of: item, present: present)
        }

        var report = PublishReport(destination: options.destination.description, dryRun: options.dryRun, items: [],
                                   uploadedObjects: 0, uploadedBytes: 0, skippedObjects: 0, abortedStaleUploads: 0,
                                   warnings: warnings)
        func record(_ item: PublishItem, _ action: PublishAction, parts: Int?) {
            let done = PublishedItem(path: item.path, key: item.key, size: item.size, kind: item.kind, action: action,
                                     parts: parts, contentType: item.contentType, cacheControl: item.cacheControl)
            report.items.append(done)
            if action == .skip { report.skippedObjects += 1 } else { report.uploadedObjects += 1; report.uploadedBytes += item.size }
            onItem?(done)
        }
        if options.dryRun {
            for (item, action) in decided {
                record(item, action, parts: action != .skip && item.size > options.partSize ? partCount(item.size) : nil)
            }
            return report
        }

        // 3. Clean up what an interrupted run left, then upload in order.
        let writing = Set(decided.filter { $0.1 != .skip }.map(\.0.key))
        if !writing.isEmpty {
            let stale = try s3 { () throws(S3Error) in try client.listMultipartUploads(bucket: bucket, prefix: options.destination.prefix) }
            for upload in stale where writing.contains(upload.key) {
                try s3 { () throws(S3Error) in try client.abortMultipartUpload(bucket: bucket, key: upload.key, uploadId: upload.uploadId) }
                report.abortedStaleUploads += 1
            }
        }
        for (item, action) in decided {
            if action == .skip {
                record(item, action, parts: nil)
                continue
            }
            let parts = try upload(item, progress: progress)
            record(item, action, parts: parts)
        }
        return report
    }

    private func partCount(_ size: Int) -> Int {
        let part = partSize(for: size)
        return (size + part - 1) / part
    }

    /// Whether the object already holds the local file's bytes.
    private func isSame(_ item: PublishItem, _ head: S3ObjectHead) throws(ReleaseError) -> Bool {
        guard head.size == item.size else { return false }
        if let sha256 = head.metadata["sha256"] { return sha256.lowercased() == item.sha256 }
        // Uploaded by another tool: a single-part upload's ETag is the MD5 of the content.
        guard var etag = head.etag else { return false }
        etag = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
        guard etag.count == 32, !etag.contains("-") else { return false }
        var md5 = Insecure.MD5()
        let path = (options.directory as NSString).appendingPathComponent(item.path)
        do {
            try FileInput(path: path).forEachBlock { md5.update(bufferPointer: $0) }
        } catch let error as FileError {
            throw ReleaseError.input(error)
        } catch {
            throw ReleaseError(.io, "\(path): \(error)")
        }
        return md5.finalize().map { String(format: "%02x", $0) }.joined() == etag
    }

    /// Fails unless every file the channel file lists is in `present` or already in the
    /// bucket; returns warnings for missing blockmaps (those only cost clients a full download).
    private func checkReferences(of item: PublishItem, present: Set<String>) throws(ReleaseError) -> [String] {
        let path = (options.directory as NSString).appendingPathComponent(item.path)
        let bytes: [UInt8]
        do {
            bytes = try FileInput.readAll(path: path, limit: 64 << 20)
        } catch {
            throw ReleaseError.input(error)
        }
        let document: ChannelDocument
        do {
            document = try ChannelDocument(bytes: bytes)
        } catch {
            throw ReleaseError(.invalidData, "\(item.path): \(error.message); nothing was uploaded")
        }
        var warnings: [String] = []
        func exists(_ key: String) throws(ReleaseError) -> Bool {
            if present.contains(key) { return true }
            return try s3 { () throws(S3Error) in try client.headObject(bucket: options.destination.bucket, key: key) } != nil
        }
        for file in document.info.effectiveFiles where !file.url.contains("://") {
            let relative = file.url.removingPercentEncoding ?? file.url
            let key = options.destination.key(relative)
            guard try exists(key) else {
                throw ReleaseError(.checkFailed, "\(item.path) lists \(file.url), which is neither in this directory nor in \(options.destination); nothing was uploaded (publish the version's directory too, or fix the channel file)")
            }
            if !(try exists(key + ReleaseLayout.blockmapSuffix)) {
                warnings.append("\(item.path): \(file.url)\(ReleaseLayout.blockmapSuffix) is missing: clients will download \(file.url) in full")
            }
        }
        return warnings
    }

    /// Uploads one file (single PUT or multipart). Returns the part count, nil for a single PUT.
    private func upload(_ item: PublishItem, progress: (@Sendable (Int) -> Void)?) throws(ReleaseError) -> Int? {
        let bucket = options.destination.bucket
        let path = (options.directory as NSString).appendingPathComponent(item.path)
        let headers = ["Content-Type": item.contentType, "Cache-Control": item.cacheControl, "x-amz-meta-sha256": item.sha256]
        let part = partSize(for: item.size)
        if item.size <= options.partSize {
            let bytes: [UInt8]
            do {
                bytes = try FileInput.readAll(path: path, limit: item.size)
            } catch {
                throw ReleaseError.input(error)
            }
            guard SHA2Hasher.hash(.sha256, bytes).hex == item.sha256 else {
                throw ReleaseError(.checkFailed, "\(item.path) changed while it was being published; nothing more was uploaded")
            }
            try s3 { () throws(S3Error) in try client.putObject(bucket: bucket, key: item.key, body: Data(bytes), headers: headers) }
            progress?(item.size)
            return nil
        }

        let count = (item.size + part - 1) / part
        let uploadId = try s3 { () throws(S3Error) in try client.createMultipartUpload(bucket: bucket, key: item.key, headers: headers) }
        do {
            let etags = try uploadParts(path: path, key: item.key, uploadId: uploadId, size: item.size, partSize: part,
                                        count: count, progress: progress)
            try s3 { () throws(S3Error) in
                try client.completeMultipartUpload(bucket: bucket, key: item.key, uploadId: uploadId,
                                                   parts: etags.enumerated().map { ($0.offset + 1, $0.element) })
            }
        } catch {
            try? s3 { () throws(S3Error) in try client.abortMultipartUpload(bucket: bucket, key: item.key, uploadId: uploadId) }
            throw ReleaseError(error.kind, "\(error.message) (the multipart upload was aborted)")
        }
        guard let head = try s3({ () throws(S3Error) in try client.headObject(bucket: bucket, key: item.key) }),
              head.size == item.size, head.metadata["sha256"] == item.sha256 else {
            throw ReleaseError(.checkFailed, "\(item.key): the completed multipart upload does not have the expected size and checksum")
        }
        return count
    }

    /// Uploads the parts on `jobs` threads; returns their ETags in order. After the first
    /// failure no new part is started.
    private func uploadParts(path: String, key: String, uploadId: String, size: Int, partSize: Int, count: Int,
                             progress: (@Sendable (Int) -> Void)?) throws(ReleaseError) -> [String] {
        let input: FileInput
        do {
            input = try FileInput(path: path)
        } catch {
            throw ReleaseError.input(error)
        }
        guard input.regularFileSize == size else {
            throw ReleaseError(.checkFailed, "\(path) changed size while it was being published")
        }
        let work = PartWork(input: input, count: count)
        let group = DispatchGroup()
        let client = self.client
        let bucket = options.destination.bucket
        for index in 0..<min(max(1, options.jobs), count) {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let part = work.take() {
                    let offset = part * partSize
                    let length = min(partSize, size - offset)
                    do {
                        let bytes = try work.input.pread(offset: offset, count: length)
                        let etag = try client.uploadPart(bucket: bucket, key: key, uploadId: uploadId, number: part + 1, body: Data(bytes))
                        work.finish(part, etag: etag)
                        progress?(length)
                    } catch let error as FileError {
                        work.fail(ReleaseError.input(error))
                    } catch let error as S3Error {
                        work.fail(ReleaseError(.io, error.description))
                    } catch {
                        work.fail(ReleaseError(.io, "\(error)"))
                    }
                }
            }
            thread.name = "blockyard-upload-\(index)"
            thread.start()
        }
        group.wait()
        return try work.result()
    }

    @discardableResult
    private func s3<T>(_ body: () throws(S3Error) -> T) throws(ReleaseError) -> T {
        do {
            return try body()
        } catch {
            throw ReleaseError(.io, error.description)
        }
    }
}

/// Shared state of one multipart upload's workers.
private final class PartWork: @unchecked Sendable {
    let input: FileInput
    private let lock = NSLock()
    private var next = 0
    private var etags: [String?]
    private var failure: ReleaseError?

    init(input: FileInput, count: Int) {
        self.input = input
        etags = Array(repeating: nil, count: count)
    }

    /// The next part to upload; nil when all are taken or one failed.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard failure == nil, next < etags.count else { return nil }
        next += 1
        return next - 1
    }

    func finish(_ part: Int, etag: String) {
        lock.lock()
        etags[part] = etag
        lock.unlock()
    }

    func fail(_ error: ReleaseError) {
        lock.lock()
        if failure == nil { failure = error }
        lock.unlock()
    }

    func result() throws(ReleaseError) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        return etags.map { $0! }
    }
}
