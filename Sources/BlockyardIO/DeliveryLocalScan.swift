import BlockyardCore
import Foundation

/// Cuts the installed file into chunks exactly as a delivery index's publisher cuts the
/// artifact, and hashes each with SHA-256, on all cores: what a client compares with the new
/// index (``DeliveryLocalTree``).
///
/// The file is mapped and cut in 16 MiB windows by one task while the chunks of the previous
/// window are hashed in parallel, one contiguous slice per core (the structure of
/// ``DeliveryFileBuilder``, without the compression). With `sha512`, one more task hashes the
/// whole file meanwhile (an update in place may find the file already is the new version).
public enum DeliveryLocalScan {
    public struct Result: Sendable {
        public var chunks: [DeliveryLocalChunk]
        public var size: Int
        public var sha512: Digest?
    }

    /// Scans `path`. `isCancelled` is polled between windows (a `CancellationError` is
    /// thrown once it returns true); `progress` receives bytes scanned.
    public static func scan(path: String, parameters: ChunkerParameters = .electronBuilder, sha512: Bool = false,
                            threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                            progress: ((Int) -> Void)? = nil, isCancelled: (() -> Bool)? = nil) throws -> Result {
        let input = try FileInput(path: path)
        guard let size = input.regularFileSize else {
            throw FileError(path: path, kind: .notRegularFile, reason: "not a regular file")
        }
        let whole = sha512 ? SHA2Hasher(.sha512) : nil
        guard size > 0 else { return Result(chunks: [], size: 0, sha512: whole?.finalize()) }
        let mapped = try MappedFile(path: path)
        guard mapped.size == size else { throw FileError(path: path, kind: .io, reason: "changed size while being read") }

        let workers = max(1, threads)
        let state = ScanState(finder: SegmentedCutFinder(totalSize: size, boundaries: [], parameters: parameters),
                              mapped: mapped, workers: workers)
        nonisolated(unsafe) let digest = whole
        var chunks: [DeliveryLocalChunk] = []
        chunks.reserveCapacity(size / parameters.minSize / 2 + 1)
        var scanned = 0
        var current = state.cutNext()
        while !current.isEmpty {
            if isCancelled?() == true { throw CancellationError() }
            let batch = current
            let hashedFrom = scanned, hashedTo = batch.last!.upperBound
            // `workers` hashing tasks, one cutting the next window, one for the SHA-512.
            DispatchQueue.concurrentPerform(iterations: workers + 2) { task in
                if task == workers {
                    state.next = state.cutNext()
                    return
                }
                if task == workers + 1 {
                    digest?.update(mapped.bytes(hashedFrom ..< hashedTo))
                    return
                }
                let slice = batch.count * task / workers ..< batch.count * (task + 1) / workers
                state.slots[task] = batch[slice].map { r in
                    DeliveryLocalChunk(hash: DeliveryHash.sha256(mapped.bytes(r)), offset: UInt64(r.lowerBound),
                                       size: UInt32(r.count))
                }
            }
            for task in 0 ..< workers { chunks += state.slots[task] }
            progress?(hashedTo - scanned)
            scanned = hashedTo
            mapped.release(upTo: hashedTo)
            current = state.next
        }
        guard state.finder.isFinished, scanned == size else {
            throw FileError(path: path, kind: .io, reason: "the chunker stopped at byte \(scanned) of \(size)")
        }
        return Result(chunks: chunks, size: size, sha512: whole?.finalize())
    }

    /// The cut finder and the per-task result slots. Tasks touch disjoint parts: one cuts,
    /// each hashing task writes its own slot; the loop reads them after the tasks end.
    private final class ScanState: @unchecked Sendable {
        var finder: SegmentedCutFinder
        let mapped: MappedFile
        var lastCut = 0
        var next: [Range<Int>] = []
        /// One slot per hashing task: tasks write only their own, never the same memory.
        let slots: UnsafeMutableBufferPointer<[DeliveryLocalChunk]>

        init(finder: SegmentedCutFinder, mapped: MappedFile, workers: Int) {
            self.finder = finder
            self.mapped = mapped
            slots = .allocate(capacity: workers)
            slots.initialize(repeating: [])
        }

        deinit {
            slots.deinitialize()
            slots.deallocate()
        }

        func cutNext() -> [Range<Int>] {
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
}
