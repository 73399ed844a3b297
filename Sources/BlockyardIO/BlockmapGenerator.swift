import BlockyardCore
import Foundation

/// Generates the blockmap, size and SHA-512 of a file.
///
/// Regular files of at least ``parallelThreshold`` bytes are mapped and processed on all cores
/// by ``ParallelBlockmapper``; smaller files and streams go through the single-threaded
/// ``BlockmapBuilder``. Both give identical results (tested).
public enum BlockmapGenerator {
    public static let parallelThreshold = 1 << 20

    /// Worker threads for large files: every core (at least 2, at most 8).
    public static var defaultThreads: Int { min(8, max(2, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Blockmap of `path` (any readable input, `-` for stdin).
    /// - Parameter isCancelled: polled between blocks (every few MiB); once it returns true
    ///   the work stops and `CancellationError` is thrown.
    public static func generate(path: String, compat: BlockmapCompat = .electronBuilder,
                                threads: Int = defaultThreads,
                                progress: ((Int) -> Void)? = nil,
                                isCancelled: (() -> Bool)? = nil) throws -> BlockmapResult {
        if let mapped = try mapIfLarge(path) {
            let mapper = ParallelBlockmapper(file: mapped, progress: progress, isCancelled: isCancelled)
            let run = mapper.run(threads: threads)
            if mapper.wasCancelled { throw CancellationError() }
            return BlockmapResult(blockmap: blockmap(run.sizes, run.checksums, run.endsWithZeroChunk, compat),
                                  size: mapped.size, sha512: run.sha512.finalize())
        }
        var builder = BlockmapBuilder(compat: compat)
        let input = try FileInput(path: path)
        try input.forEachBlock { block in
            if isCancelled?() == true { throw CancellationError() }
            builder.update(block)
            progress?(block.count)
        }
        return builder.finalize()
    }

    /// The blockmap of a seed, for planning: the same chunks and checksums as
    /// ``generate(path:compat:threads:progress:)`` without the whole-file SHA-512, which a
    /// planner does not need (on two cores this saves about a third of the time on large
    /// files). Small files and streams go through ``BlockmapBuilder`` as usual. `isCancelled`
    /// as for ``generate(path:compat:threads:progress:isCancelled:)``.
    public static func chunk(path: String, compat: BlockmapCompat = .electronBuilder,
                             threads: Int = defaultThreads,
                             progress: ((Int) -> Void)? = nil,
                             isCancelled: (() -> Bool)? = nil) throws -> (blockmap: Blockmap, size: Int) {
        if let mapped = try mapIfLarge(path) {
            let mapper = ParallelBlockmapper(file: mapped, digest: false, progress: progress, isCancelled: isCancelled)
            let run = mapper.run(threads: threads)
            if mapper.wasCancelled { throw CancellationError() }
            return (blockmap(run.sizes, run.checksums, run.endsWithZeroChunk, compat), mapped.size)
        }
        let result = try generate(path: path, compat: compat, threads: threads, progress: progress, isCancelled: isCancelled)
        return (result.blockmap, result.size)
    }

    /// Embedded mode: the blockmap of `path` plus the tail to append and the grown file's info.
    public static func generateEmbedded(path: String, compat: BlockmapCompat = .electronBuilder,
                                        threads: Int = defaultThreads,
                                        progress: ((Int) -> Void)? = nil) throws -> (result: BlockmapResult, tail: [UInt8]) {
        if let mapped = try mapIfLarge(path) {
            let run = ParallelBlockmapper(file: mapped, progress: progress).run(threads: threads)
            let map = blockmap(run.sizes, run.checksums, run.endsWithZeroChunk, compat)
            let tail = BlockmapCodec.embeddedTail(map)
            run.sha512.update(contentsOf: tail)
            let result = BlockmapResult(blockmap: map, size: mapped.size + tail.count,
                                        sha512: run.sha512.finalize(), blockMapSize: tail.count - 4)
            return (result, tail)
        }
        var builder = BlockmapBuilder(compat: compat)
        let input = try FileInput(path: path)
        try input.forEachBlock { block in
            builder.update(block)
            progress?(block.count)
        }
        return builder.finalizeEmbedded()
    }

    private static func mapIfLarge(_ path: String) throws(FileError) -> MappedFile? {
        guard path != "-" else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) >= parallelThreshold else { return nil }
        return try MappedFile(path: path)
    }

    private static func blockmap(_ sizes: [Int], _ checksums: [ChunkChecksum], _ zeroChunk: Bool,
                                 _ compat: BlockmapCompat) -> Blockmap {
        var sizes = sizes, checksums = checksums
        if zeroChunk && compat == .appBuilder {
            sizes.append(0)
            checksums.append(.empty)
        }
        return Blockmap(checksums: checksums, sizes: sizes)
    }

    /// Appends `tail` to the file at `path` atomically: the original is copied to a temporary
    /// sibling, the tail appended, the copy fsync'd and renamed over the original. A crash or
    /// error at any point leaves the original file unchanged.
    /// - Parameter expectedSize: the size the blockmap was computed over; if the file changed
    ///   meanwhile, nothing is written.
    public static func appendAtomically(path: String, tail: [UInt8], expectedSize: Int) throws {
        let input = try FileInput(path: path)
        guard input.regularFileSize == expectedSize else {
            throw FileError(path: path, kind: .other, reason: "file changed while its blockmap was computed (size \(input.regularFileSize ?? -1), expected \(expectedSize)); not modified")
        }
        let writer = try AtomicFileWriter(destination: path)
        var copied = 0
        while copied < expectedSize {
            // sendfile copies in the kernel (no user-space buffer) between regular files.
            let n = sendfile(writer.fileDescriptor, input.descriptor, nil, min(expectedSize - copied, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOSYS || errno == EINVAL { break }
                throw FileError(path: path, errno: errno, doing: "copy failed")
            }
            if n == 0 { break }
            copied += n
        }
        if copied < expectedSize {
            // Fall back to read/write for the rest.
            lseek(input.descriptor, off_t(copied), SEEK_SET)
            lseek(writer.fileDescriptor, off_t(copied), SEEK_SET)
            try input.forEachBlock(blockSize: 1 << 20) { block in
                try writer.write(block)
                copied += block.count
            }
        }
        guard copied == expectedSize else {
            throw FileError(path: path, kind: .io, reason: "file shrank while being copied (\(copied) of \(expectedSize) bytes); not modified")
        }
        lseek(writer.fileDescriptor, off_t(copied), SEEK_SET)
        try writer.write(tail)
        try writer.commit()
    }
}
