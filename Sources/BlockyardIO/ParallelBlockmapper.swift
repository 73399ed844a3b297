import BlockyardCore
import Foundation

/// Computes a file's blockmap and SHA-512 on all cores (shared spec §3.2 and §9).
///
/// The file is mapped and split into windows. Three kinds of task run on whichever worker is
/// free: the SHA-512 of the next window (sequential by nature, so at most one at a time),
/// the boundary-candidate scan of a window (independent per window, four interleaved lanes),
/// and BLAKE2b-18 of batches of finished chunks (independent). After each scan the
/// ``CutChainer`` turns candidates into cuts in file order. Tasks never run more than
/// `lookahead` windows beyond the oldest unfinished byte, and pages behind it are released,
/// so memory stays flat whatever the file size.
final class ParallelBlockmapper: @unchecked Sendable {
    static let windowSize = 4 << 20
    static let lookaheadWindows = 12
    static let batchBytes = 2 << 20

    private enum Task {
        case sha(Int)
        case scan(Int)
        case hash(Int)
    }

    private struct Batch {
        let firstChunk: Int
        /// Chunk boundaries: starts[k] ..< starts[k+1] is chunk firstChunk + k.
        let bounds: [Int]
    }

    private let file: MappedFile
    private let parameters = ChunkerParameters.electronBuilder
    private let windowCount: Int
    private let sha512 = SHA2Hasher(.sha512)
    private let progress: ((Int) -> Void)?
    private let isCancelled: (() -> Bool)?
    /// Set (under `condition`) once `isCancelled` answered true: every worker stops after
    /// its current task, and the results are incomplete.
    private var cancelled = false
    private let condition = NSCondition()

    // Scheduler state, guarded by `condition`.
    private var shaNext = 0
    private var shaBusy = false
    private var scanNext = 0
    private var scanned: [[Int]?]
    private var chainedWindows = 0
    private var chainer: CutChainer
    private var cuts: [Int] = []
    private var batches: [Batch] = []
    private var batchDone: [Bool] = []
    private var nextBatch = 0
    private var firstUndoneBatch = 0
    /// Chunk start not yet covered by a batch (where the next batch begins).
    private var batchedUpTo = 0
    private let checksums: UnsafeMutablePointer<ChunkChecksum>
    private let checksumCapacity: Int

    /// Whether the file's SHA-512 is computed (the blockmap's info JSON needs it; planning
    /// against a seed does not).
    private let digest: Bool

    /// - Parameter isCancelled: polled before each task (a window of at most 4 MiB); once it
    ///   returns true the run stops early and ``wasCancelled`` is true.
    init(file: MappedFile, digest: Bool = true, progress: ((Int) -> Void)?, isCancelled: (() -> Bool)? = nil) {
        self.file = file
        self.progress = progress
        self.isCancelled = isCancelled
        self.digest = digest
        windowCount = (file.size + Self.windowSize - 1) / Self.windowSize
        if !digest { shaNext = windowCount }
        scanned = Array(repeating: nil, count: windowCount)
        chainer = CutChainer(totalSize: file.size, parameters: parameters)
        checksumCapacity = file.size / parameters.minSize + 2
        checksums = .allocate(capacity: checksumCapacity)
    }

    deinit { checksums.deallocate() }

    /// Whether the run stopped early because `isCancelled` said so (its results are empty).
    var wasCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Runs the computation on `threads` workers (the caller's thread is one of them).
    /// Returns the chunk sizes and checksums (without app-builder's zero chunk) and the
    /// SHA-512 hasher, not yet finalized, so embedded mode can continue it over the tail.
    func run(threads: Int) -> (sizes: [Int], checksums: [ChunkChecksum], endsWithZeroChunk: Bool, sha512: SHA2Hasher) {
        let helpers = (1..<max(1, threads)).map { i in
            WorkerThread(name: "blockyard-blockmap-\(i)") { [self] in work() }
        }
        work()
        helpers.forEach { $0.join() }
        if cancelled { return ([], [], false, sha512) }
        var sizes: [Int] = []
        sizes.reserveCapacity(cuts.count)
        var previous = 0
        for cut in cuts {
            sizes.append(cut - previous)
            previous = cut
        }
        let sums = Array(UnsafeBufferPointer(start: checksums, count: cuts.count))
        return (sizes, sums, chainer.endsWithZeroChunk, sha512)
    }

    private func work() {
        condition.lock()
        while true {
            if isComplete || cancelled {
                condition.broadcast()
                condition.unlock()
                return
            }
            if isCancelled?() == true {
                cancelled = true
                continue
            }
            guard let task = nextTask() else {
                condition.wait()
                continue
            }
            condition.unlock()
            let result = perform(task)
            condition.lock()
            complete(task, result)
            condition.broadcast()
        }
    }

    private var isComplete: Bool {
        shaNext == windowCount && !shaBusy && chainer.isFinished && firstUndoneBatch == batches.count
            && batchedUpTo == cuts.count
    }

    /// Oldest byte still needed by any task.
    private var frontier: Int {
        let sha = shaNext * Self.windowSize
        let hashing = firstUndoneBatch < batches.count
            ? batches[firstUndoneBatch].bounds[0]
            : (cuts.isEmpty ? 0 : cuts[cuts.count - 1])
        return min(sha, hashing)
    }

    private func nextTask() -> Task? {
        let limit = frontier + Self.lookaheadWindows * Self.windowSize
        if !shaBusy && shaNext < windowCount && shaNext * Self.windowSize < limit {
            shaBusy = true
            return .sha(shaNext)
        }
        if scanNext < windowCount && scanNext * Self.windowSize < limit {
            scanNext += 1
            return .scan(scanNext - 1)
        }
        if nextBatch < batches.count {
            nextBatch += 1
            return .hash(nextBatch - 1)
        }
        return nil
    }

    private func perform(_ task: Task) -> [Int] {
        switch task {
        case .sha(let w):
            let range = w * Self.windowSize..<min((w + 1) * Self.windowSize, file.size)
            sha512.update(file.bytes(range))
            progress?(range.count)
            return []
        case .scan(let w):
            var found: [Int] = []
            let from = max(64, w * Self.windowSize)
            let to = min((w + 1) * Self.windowSize, file.size)
            if to > from {
                BoundaryScanner.scan(file.base, from: from, to: to, mask: parameters.mask, into: &found)
            }
            if !digest { progress?(min((w + 1) * Self.windowSize, file.size) - w * Self.windowSize) }
            return found
        case .hash(let b):
            let batch = batches[b]
            for k in 0..<(batch.bounds.count - 1) {
                let chunk = file.bytes(batch.bounds[k]..<batch.bounds[k + 1])
                (checksums + batch.firstChunk + k).initialize(to: BLAKE2b.chunkChecksum(chunk))
            }
            return []
        }
    }

    private func complete(_ task: Task, _ result: [Int]) {
        switch task {
        case .sha:
            shaNext += 1
            shaBusy = false
        case .scan(let w):
            scanned[w] = result
            // Chain every window that is now contiguous with the chained prefix.
            while chainedWindows < windowCount, let candidates = scanned[chainedWindows] {
                scanned[chainedWindows] = []
                let through = min((chainedWindows + 1) * Self.windowSize, file.size)
                cuts.append(contentsOf: chainer.advance(candidates: candidates, scannedThrough: through))
                chainedWindows += 1
            }
            makeBatches()
        case .hash(let b):
            batchDone[b] = true
            while firstUndoneBatch < batches.count && batchDone[firstUndoneBatch] { firstUndoneBatch += 1 }
        }
        file.release(upTo: frontier - 4096)
    }

    /// Groups newly cut chunks into hashing batches of about `batchBytes`.
    private func makeBatches() {
        while batchedUpTo < cuts.count {
            let first = batchedUpTo
            let start = first == 0 ? 0 : cuts[first - 1]
            var end = first
            while end < cuts.count && (end == first || cuts[end] - start <= Self.batchBytes) { end += 1 }
            // Keep a short tail for later unless the chain is complete.
            if end == cuts.count && cuts[end - 1] - start < Self.batchBytes / 2 && !chainer.isFinished { break }
            batches.append(Batch(firstChunk: first, bounds: [start] + Array(cuts[first..<end])))
            batchDone.append(false)
            batchedUpTo = end
        }
    }
}
