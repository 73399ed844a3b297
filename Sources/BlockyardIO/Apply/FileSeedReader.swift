import BlockyardCore
import Foundation

/// Reads seeds from local files with large `pread`s. Opens only the seeds the plan copies
/// from, read-only, and refuses any whose size differs from the size recorded in the plan.
public final class FileSeedReader: SeedReader {
    private var files: [Int: (input: FileInput, path: String)] = [:]

    /// - Parameter paths: seed files by seed id; a seed not listed uses the path in the plan.
    public init(plan: DeltaPlan, paths: [Int: String] = [:]) throws {
        var needed = Set<Int>()
        for op in plan.operations where op.kind == .copy && op.length > 0 {
            if let seed = op.seed { needed.insert(seed) }
        }
        for seed in plan.seeds where needed.contains(seed.id) {
            let path = paths[seed.id] ?? seed.path
            let input: FileInput
            do {
                input = try FileInput(path: path)
            } catch {
                throw FileApplyError.seed(id: seed.id, error)
            }
            guard let size = input.regularFileSize else {
                throw FileApplyError.seed(id: seed.id, FileError(path: path, kind: .notRegularFile, reason: "not a regular file"))
            }
            guard size == seed.size else {
                throw ApplyError.seedChanged(seed: seed.id, path: path, plannedSize: seed.size, actualSize: size)
            }
            files[seed.id] = (input, path)
        }
    }

    public func read(seed: Int, at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard let (input, path) = files[seed] else {
            throw ApplyError.seedTruncated(seed: seed, path: "(not opened)", offset: offset)
        }
        var done = 0
        while done < buffer.count {
            let n = pread(input.descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileApplyError.seed(id: seed, FileError(path: path, errno: errno, doing: "read failed"))
            }
            if n == 0 { throw ApplyError.seedTruncated(seed: seed, path: path, offset: offset + done) }
            done += n
        }
    }
}

/// A local file serving the new file's bytes, as a server would; one `fetch` call stands for
/// one request. `pread`s straight into a reused 4 MiB buffer.
public final class LocalFileRangeSource: RangeSource {
    public let path: String
    private let input: FileInput
    public let size: Int
    private let buffer: UnsafeMutableRawBufferPointer
    /// Calls so far (one per request).
    public private(set) var requests = 0

    public init(path: String, bufferSize: Int = 4 << 20) throws {
        self.path = path
        do {
            input = try FileInput(path: path)
        } catch {
            throw FileApplyError.source(error)
        }
        guard let size = input.regularFileSize else {
            throw FileApplyError.source(FileError(path: path, kind: .notRegularFile, reason: "not a regular file"))
        }
        self.size = size
        buffer = .allocate(byteCount: max(4096, bufferSize), alignment: 64)
    }

    deinit { buffer.deallocate() }

    public func fetch(_ ranges: [ByteRange], receive: (UnsafeRawBufferPointer) throws -> Void) throws {
        requests += 1
        for range in ranges {
            guard range.offset >= 0, range.length >= 0, range.offset <= size - range.length else {
                throw ApplyError.sourceRange(offset: range.offset, length: range.length, sourceSize: size)
            }
            var at = range.offset
            while at < range.end {
                let want = min(buffer.count, range.end - at)
                let n = pread(input.descriptor, buffer.baseAddress!, want, off_t(at))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileApplyError.source(FileError(path: path, errno: errno, doing: "read failed"))
                }
                if n == 0 { throw ApplyError.sourceRange(offset: range.offset, length: range.length, sourceSize: at) }
                try receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                at += n
            }
        }
    }
}

/// File errors of an apply, by role, so the command line can pick the exit code.
public enum FileApplyError: Error, CustomStringConvertible {
    /// A seed could not be opened or read.
    case seed(id: Int, FileError)
    /// The range source could not be opened or read.
    case source(FileError)
    /// The temporary output could not be created beside the destination.
    case createOutput(FileError)
    /// Writing, syncing or renaming the output failed.
    case writeOutput(FileError)

    public var fileError: FileError {
        switch self {
        case .seed(_, let e), .source(let e), .createOutput(let e), .writeOutput(let e): return e
        }
    }

    public var description: String {
        switch self {
        case .seed(let id, let e): return "seed \(id): \(e.description)"
        case .source(let e): return "range source: \(e.description)"
        case .createOutput(let e): return e.description
        case .writeOutput(let e): return e.description
        }
    }
}
