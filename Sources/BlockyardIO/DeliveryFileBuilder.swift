import BlockyardCore
import Foundation

/// Writes the delivery index and pack of a file (docs/FORMAT.md) on all cores, producing
/// exactly the bytes of ``DeliveryPacker`` (tested).
///
/// The file is mapped and cut in 16 MiB windows with ``SegmentedCutFinder``; the chunks of a
/// window are hashed and compressed in parallel, one contiguous slice per core with a
/// compressor of its own, while one more task cuts the next window. The stored forms are then
/// appended to the pack in order, with writeback started behind them (``WriteBehind``).
/// Memory stays flat: one window of input pages and its
/// compressed output. Both outputs go through ``AtomicFileWriter``; both are written and
/// fsync'd before the pack and then the index are renamed into place, so a failure leaves the
/// old pair untouched and no temporary file. (A crash between the two renames leaves the new
/// pack beside the old index: the index's pack size and chunk hashes reveal it.)
public enum DeliveryFileBuilder {
    /// What was written.
    public struct Output: Sendable {
        public let index: DeliveryIndex
        /// Size of the `.byindex` file.
        public let indexSize: Int
        /// The electron-builder blockmap, size and SHA-512 of the input, computed in the same
        /// pass from the same cuts (only when asked for with `blockmap: true`).
        public let blockmap: BlockmapResult?
    }

    static let window = 16 << 20

    /// Builds the index and pack of `inputPath`.
    /// - Parameters:
    ///   - boundaries: forced chunk cuts (tensor or archive member boundaries), as for the store.
    ///   - threads: compression threads (default: the cores available).
    ///   - blockmap: also compute the input's electron-builder blockmap (BLAKE2b-18 of the same
    ///     chunks) and SHA-512 in the same pass — what a release needs, at the cost of one read
    ///     of the file instead of two. Requires the electron-builder chunker and no forced
    ///     boundaries (the blockmap's cuts must be electron-builder's).
    ///   - progress: called with the bytes of each window as it is done.
    public static func build(inputPath: String, indexPath: String, packPath: String,
                             parameters: DeliveryParameters = DeliveryParameters(), boundaries: [Int] = [],
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                             blockmap: Bool = false, progress: ((Int) -> Void)? = nil) throws(FileError) -> Output {
        precondition(!blockmap || (boundaries.isEmpty && parameters.chunker == .electronBuilder),
                     "DeliveryFileBuilder: a blockmap needs electron-builder's cuts")
        let input = try FileInput(path: inputPath)
        guard let size = input.regularFileSize else {
            throw FileError(path: inputPath, kind: .notRegularFile, reason: "not a regular file")
        }
        // Renaming over a directory is the one failure left after both files are written and
        // fsync'd: refuse it before anything is written.
        for path in [indexPath, packPath] {
            var st = stat()
            if stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR {
                throw FileError(path: path, kind: .isDirectory, reason: "is a directory")
            }
        }
        let packWriter = try AtomicFileWriter(destination: packPath)
        var builder = DeliveryIndexBuilder(parameters: parameters)
        let extra = blockmap ? BlockmapPass() : nil
        if size > 0 {
            let mapped = try MappedFile(path: inputPath)
            guard mapped.size == size else {
                throw FileError(path: inputPath, kind: .io, reason: "changed size while being read")
            }
            try pack(mapped, boundaries: boundaries, parameters: parameters, threads: max(1, threads),
                     writer: packWriter, builder: &builder, blockmap: extra, progress: progress)
        }
        let index = builder.finish()
        let bytes = DeliveryIndexCodec.encode(index)
        let indexWriter = try AtomicFileWriter(destination: indexPath)
        try indexWriter.write(bytes)
        // Both fsync'd before either is renamed, so a failure to write one replaces neither.
        for writer in [packWriter, indexWriter] where fsync(writer.fileDescriptor) != 0 {
            throw FileError(path: writer.destination, errno: errno, doing: "fsync failed")
        }
        try packWriter.commit()
        try indexWriter.commit()
        let result = extra.map {
            BlockmapResult(blockmap: Blockmap(checksums: $0.checksums, sizes: index.leaves.map { Int($0.rawSize) }),
                           size: size, sha512: $0.sha512.finalize())
        }
        return Output(index: index, indexSize: bytes.count, blockmap: result)
    }

    /// The blockmap's share of a combined pass: the chunks' BLAKE2b-18 in order and the whole
    /// file's SHA-512.
    private final class BlockmapPass: @unchecked Sendable {
        var checksums: [ChunkChecksum] = []
        let sha512 = SHA2Hasher(.sha512)
    }

    /// One window's chunks, split into per-thread slices, and their stored forms.
    private final class Batch: @unchecked Sendable {
        var ranges: [Range<Int>] = []
        var slices: [Range<Int>] = []
        var buffers: [UnsafeMutableRawBufferPointer] = []
        /// One result slot per task: tasks write only their own slot, never the same memory.
        let packed: UnsafeMutableBufferPointer<[PackedChunk]>
        /// The blockmap checksums of each task's chunks (combined pass only), slot per task.
        let checksums: UnsafeMutableBufferPointer<[ChunkChecksum]>

        init(threads: Int) {
            packed = .allocate(capacity: threads)
            packed.initialize(repeating: [])
            checksums = .allocate(capacity: threads)
            checksums.initialize(repeating: [])
        }

        deinit {
            for b in buffers { b.deallocate() }
            packed.deinitialize()
            packed.deallocate()
            checksums.deinitialize()
            checksums.deallocate()
        }

        /// Splits `ranges` into `threads` contiguous slices and makes room for their output.
        func prepare(threads: Int) {
            slices = (0 ..< threads).map { t in ranges.count * t / threads ..< ranges.count * (t + 1) / threads }
            for (t, slice) in slices.enumerated() {
                let need = ranges[slice].reduce(0) { $0 + ChunkPacker.outputCapacity(rawSize: $1.count) }
                if t >= buffers.count || buffers[t].count < need {
                    if t < buffers.count { buffers[t].deallocate() }
                    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(need, 1 << 20), alignment: 64)
                    if t < buffers.count { buffers[t] = buffer } else { buffers.append(buffer) }
                }
            }
        }
    }

    /// The cut finder and how far it has cut, advanced by one task at a time.
    private final class Cutter: @unchecked Sendable {
        var finder: SegmentedCutFinder
        var lastCut = 0
        init(_ finder: SegmentedCutFinder) { self.finder = finder }

        /// Cuts the next window of `mapped`; returns the chunks completed.
        func next(_ mapped: MappedFile) -> [Range<Int>] {
            var ranges: [Range<Int>] = []
            let count = min(DeliveryFileBuilder.window, mapped.size - finder.scanned)
            guard count > 0 else { return ranges }
            finder.advance(mapped.base, origin: 0, count: count) { end in
                ranges.append(lastCut ..< end)
                lastCut = end
            }
            return ranges
        }
    }

    private static func pack(_ mapped: MappedFile, boundaries: [Int], parameters: DeliveryParameters, threads: Int,
                             writer: AtomicFileWriter, builder: inout DeliveryIndexBuilder,
                             blockmap: BlockmapPass?, progress: ((Int) -> Void)?) throws(FileError) {
        let cutter = Cutter(SegmentedCutFinder(totalSize: mapped.size, boundaries: boundaries, parameters: parameters.chunker))
        let compressors = (0 ..< threads).map { _ in ZstdCompressor(level: parameters.compressionLevel) }
        nonisolated(unsafe) let compressorList = compressors
        // Writeback starts as the pack grows, so the final fsync has little left to do and the
        // page cache holds a window of the pack, not all of it.
        var behind = WriteBehind(descriptor: writer.fileDescriptor)
        var current = Batch(threads: threads), spare = Batch(threads: threads)
        current.ranges = cutter.next(mapped)
        while !current.ranges.isEmpty {
            current.prepare(threads: threads)
            let batch = current, next = spare
            // `threads` compression tasks, plus one that cuts the next window meanwhile (and, in
            // a combined pass, one that feeds this window to the SHA-512).
            let windowBytes = batch.ranges.first!.lowerBound ..< batch.ranges.last!.upperBound
            DispatchQueue.concurrentPerform(iterations: threads + (blockmap == nil ? 1 : 2)) { task in
                if task == threads {
                    next.ranges = cutter.next(mapped)
                    return
                }
                if task == threads + 1 {
                    blockmap?.sha512.update(mapped.bytes(windowBytes))
                    return
                }
                let compressor = compressorList[task]
                let buffer = batch.buffers[task]
                var at = 0
                var results: [PackedChunk] = []
                results.reserveCapacity(batch.slices[task].count)
                var sums: [ChunkChecksum] = []
                if blockmap != nil { sums.reserveCapacity(batch.slices[task].count) }
                for range in batch.ranges[batch.slices[task]] {
                    let chunk = mapped.bytes(range)
                    let out = UnsafeMutableRawBufferPointer(rebasing: buffer[at...])
                    let packed = ChunkPacker.pack(chunk, compressor: compressor, into: out)
                    results.append(packed)
                    at += packed.storedSize
                    if blockmap != nil { sums.append(BLAKE2b.chunkChecksum(chunk)) }
                }
                batch.packed[task] = results
                batch.checksums[task] = sums
            }
            for task in 0 ..< threads {
                let stored = batch.packed[task].reduce(0) { $0 + $1.storedSize }
                try writer.write(UnsafeRawBufferPointer(rebasing: batch.buffers[task][0 ..< stored]))
                for chunk in batch.packed[task] { builder.append(chunk) }
                blockmap?.checksums.append(contentsOf: batch.checksums[task])
            }
            progress?(windowBytes.count)
            behind.written(upTo: writer.bytesWritten, releasableUpTo: writer.bytesWritten)
            mapped.release(upTo: batch.ranges.last!.upperBound)
            swap(&current, &spare)
        }
        precondition(cutter.finder.isFinished, "DeliveryFileBuilder: the cut finder did not reach the end")
    }
}
