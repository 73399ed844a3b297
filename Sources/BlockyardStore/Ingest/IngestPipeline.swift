import BlockyardCore
import BlockyardIO
import Foundation

/// Ingests a source with four threads so that reading and cut finding, the member digests,
/// chunk hashing, and LMDB writes (with their flushes) overlap:
///
/// 1. **reader** (the calling thread): reads each member into large slots and finds the
///    content-defined cuts (plus forced cuts at member and tensor boundaries) with
///    ``SegmentedCutFinder`` (the sequential ``Chunker`` for streams of unknown size). Slots hold
///    whole chunks only: the unfinished tail of a slot is copied to the start of the next.
/// 2. **digester**: the member's SHA-512 and SHA-256, over the slots' chunks in order (neither
///    can be split, so they get a thread of their own instead of slowing the cut finding).
/// 3. **hasher**: per chunk SHA-256 (the key); looks the key up and
///    computes the BLAKE2b-18 blockmap checksum only for chunks the store does not have yet.
/// 4. **writer**: the single LMDB writer. Puts new chunks and their records (refcount 0) in
///    batched transactions of about `batchBytes`, then hands the slots back.
///
/// Memory is bounded by the slot pool (`maxSlots` × about 4 MiB). The manifest and its
/// reference counts are committed afterwards by ``ChunkStore/add(path:as:options:)``.
final class IngestPipeline: @unchecked Sendable {
    struct Configuration {
        var aware = true
        var readSize = 4 << 20
        var maxSlots = 32
        var batchBytes = 32 << 20
        var progress: (@Sendable (Int) -> Void)?
        /// The input's path, for messages about the source as a whole.
        var sourcePath = ""
    }

    struct Result {
        var members: [ManifestMember]
        var newChunks = 0
        var newBytes = 0
        var batches = 0
        var warnings: [String] = []
    }

    private let store: ChunkStore
    private let config: Configuration
    private let failure = FailureBox()
    private let toDigester = Channel<Slot>()
    private let toHasher = Channel<Slot>()
    private let toWriter = Channel<Slot>()
    private let pool: SlotPool

    // Written by the hasher thread, read after it is joined.
    private var members: [ManifestMember] = []
    private var hasherWarnings: [String] = []
    private var newChunks = 0
    private var newBytes = 0
    // Written by the writer thread, read after it is joined.
    private var batches = 0
    /// Keys of the chunks this run committed (new to the store), for ``discardStoredChunks()``.
    private var storedKeys: [ChunkKey] = []

    init(store: ChunkStore, configuration: Configuration) {
        self.store = store
        config = configuration
        pool = SlotPool(capacity: configuration.readSize + (64 << 10), maxSlots: max(4, configuration.maxSlots))
        failure.whenFailing { [toDigester, toHasher, toWriter, pool] in
            toDigester.cancel()
            toHasher.cancel()
            toWriter.cancel()
            pool.cancel()
        }
    }

    func run(_ source: IngestSource) throws -> Result {
        let digester = WorkerThread(name: "blockyard-store-sha512") { [self] in
            do { try digestStage() } catch { failure.fail(error) }
        }
        let hasher = WorkerThread(name: "blockyard-store-hash") { [self] in
            do { try hashStage() } catch { failure.fail(error) }
        }
        let writer = WorkerThread(name: "blockyard-store-write") { [self] in
            do { try writeStage() } catch { failure.fail(error) }
        }
        do {
            try readStage(source)
            toDigester.close()
        } catch {
            failure.fail(error)
        }
        digester.join()
        hasher.join()
        writer.join()
        if let error = failure.error { throw error }
        return Result(members: members, newChunks: newChunks, newBytes: newBytes, batches: batches,
                      warnings: source.warnings + hasherWarnings)
    }

    /// Deletes the chunks this run committed that are still unreferenced, after a failed
    /// add: a refused input or a failed manifest then leaves nothing behind. Only the writer
    /// (holding the store's writer lock) stores chunks, so a chunk this run added with
    /// refcount 0 is referenced by nothing else. Best effort: on a full disk the delete
    /// transaction may fail too, and the chunks stay for `gc`.
    func discardStoredChunks() {
        guard !storedKeys.isEmpty else { return }
        let chunks = store.chunks, refs = store.refs
        _ = try? store.env.write { txn in
            for key in storedKeys {
                try key.withUnsafeBytes { k in
                    guard let value = try txn.get(refs, k), let record = ChunkRecord(decoding: value),
                          record.refcount == 0 else { return }
                    _ = try txn.delete(chunks, k)
                    _ = try txn.delete(refs, k)
                }
            }
        }
        storedKeys = []
    }

    // MARK: Stage 1: read, cut, SHA-512

    private func readStage(_ source: IngestSource) throws {
        guard var slot = pool.take() else { throw PipelineCancelled() }
        var layout = MemberLayout()
        /// Rotate to a fresh slot when less than this is left for reading.
        let minimumRoom = min(256 << 10, config.readSize / 2)
        while let member = try source.next() {
            let what: String = switch member.content {
            case .symlink: "a symbolic link"
            case .hardlink: "a hard link"
            case .stream: "a regular file"
            }
            try layout.insert(member.path, what: what, in: config.sourcePath)
            switch member.content {
            case .symlink(let target):
                slot.events.append(.start(MemberStart(path: member.path, mode: member.mode, kind: .symlink(target: target))))
                slot.events.append(.end(MemberEnd.empty))
            case .hardlink(let target):
                slot.events.append(.start(MemberStart(path: member.path, mode: member.mode, kind: .regular, aliasOf: target)))
                slot.events.append(.end(MemberEnd.empty))
            case .stream(let base, let sizeHint):
                let stream = PeekableStream(base)
                let detected = config.aware ? try TensorBoundaries.detect(stream, size: sizeHint) : nil
                let boundaries = detected?.offsets ?? []
                slot.events.append(.start(MemberStart(path: member.path, mode: member.mode, kind: .regular,
                                                      boundaryFormat: detected?.format)))
                // A member of known size is cut by the scanner + chainer (`SegmentedCutFinder`,
                // about 1.8× faster); a stream of unknown size by the sequential chunker. Both
                // give the same cuts.
                var finder = sizeHint.map { SegmentedCutFinder(totalSize: $0, boundaries: boundaries) }
                var chunker = Chunker()
                // The current (unfinished) chunk: where it starts in the slot and in the member.
                var chunkStart = slot.length
                var lastCut = 0
                var nextBoundary = 0
                var pendingCut = false
                var forced = 0
                var consumed = 0
                while true {
                    if slot.capacity - slot.length < minimumRoom {
                        guard let next = pool.take() else { throw PipelineCancelled() }
                        let carry = slot.length - chunkStart
                        next.buffer.baseAddress!.copyMemory(from: slot.buffer.baseAddress! + chunkStart, byteCount: carry)
                        next.length = carry
                        slot.length = chunkStart
                        guard toDigester.send(slot) else { throw PipelineCancelled() }
                        slot = next
                        chunkStart = 0
                    }
                    let room = UnsafeMutableRawBufferPointer(start: slot.buffer.baseAddress! + slot.length,
                                                             count: min(slot.capacity - slot.length, config.readSize))
                    let n = try stream.read(into: room)
                    if n == 0 { break }
                    let data = UnsafeRawBufferPointer(start: room.baseAddress, count: n)
                    config.progress?(n)
                    consumed += n
                    let current = slot
                    let emit = { (end: Int) in
                        let length = end - lastCut
                        current.events.append(.chunk(offset: chunkStart, length: length))
                        chunkStart += length
                        lastCut = end
                    }
                    if let size = finder?.totalSize {
                        guard consumed <= size else {
                            throw StoreError.invalidInput(path: member.path, reason: "grew while it was read (more than its \(size) bytes)")
                        }
                        // Byte `lastCut` of the member is at slot offset `chunkStart`.
                        let origin = UnsafeRawPointer(slot.buffer.baseAddress! + chunkStart).assumingMemoryBound(to: UInt8.self)
                        finder!.advance(origin, origin: lastCut, count: n, onCut: emit)
                        slot.length += n
                        continue
                    }
                    var p = 0
                    while p < n {
                        if pendingCut {
                            // A boundary reached earlier, and more data follows: cut there.
                            pendingCut = false
                            if let end = chunker.cutHere() {
                                emit(end)
                                forced += 1
                            }
                        }
                        var piece = n - p
                        if nextBoundary < boundaries.count {
                            piece = min(piece, boundaries[nextBoundary] - chunker.consumed)
                        }
                        chunker.feed(UnsafeRawBufferPointer(rebasing: data[p..<(p + piece)]), onCut: emit)
                        p += piece
                        while nextBoundary < boundaries.count && boundaries[nextBoundary] <= chunker.consumed {
                            if boundaries[nextBoundary] == chunker.consumed { pendingCut = true }
                            nextBoundary += 1
                        }
                    }
                    slot.length += n
                }
                let endsOnCut: Bool
                if let finder {
                    guard finder.isFinished else {
                        throw StoreError.invalidInput(path: member.path, reason: "shrank while it was read (\(consumed) of its \(finder.totalSize) bytes)")
                    }
                    endsOnCut = finder.endsOnCut
                    forced = finder.forcedCuts
                } else if let end = chunker.finish() {
                    let length = end - lastCut
                    slot.events.append(.chunk(offset: chunkStart, length: length))
                    endsOnCut = false
                } else {
                    endsOnCut = true
                }
                // The SHA-512 and SHA-256 are filled in by the digester.
                slot.events.append(.end(MemberEnd(size: consumed, sha512: nil, sha256: nil,
                                                  endsOnCut: endsOnCut, forcedCuts: forced)))
            }
        }
        guard toDigester.send(slot) else { throw PipelineCancelled() }
    }

    // MARK: Stage 2: the members' SHA-512 and SHA-256

    private func digestStage() throws {
        var sha512: SHA2Hasher?
        var sha256: SHA2Hasher?
        while let slot = toDigester.receive() {
            let base = UnsafeRawPointer(slot.buffer.baseAddress!)
            for i in slot.events.indices {
                switch slot.events[i] {
                case .start(let start):
                    sha512 = start.aliasOf == nil ? SHA2Hasher(.sha512) : nil
                    sha256 = start.aliasOf == nil ? SHA2Hasher(.sha256) : nil
                case .chunk(let offset, let length):
                    let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
                    sha512?.update(bytes)
                    sha256?.update(bytes)
                case .end(var end):
                    // Links and symlinks come with both digests (of nothing); files with neither.
                    if end.sha512 == nil {
                        end.sha512 = (sha512 ?? SHA2Hasher(.sha512)).finalize()
                        end.sha256 = (sha256 ?? SHA2Hasher(.sha256)).finalize()
                        slot.events[i] = .end(end)
                    }
                    sha512 = nil
                    sha256 = nil
                }
            }
            guard toHasher.send(slot) else { throw PipelineCancelled() }
        }
        toHasher.close()
    }

    // MARK: Stage 3: keys, lookups, checksums of new chunks

    private func hashStage() throws {
        var seen: [ChunkKey: ChunkChecksum] = [:]
        var current: (start: MemberStart, chunks: [ManifestChunk])?
        var index: [String: Int] = [:]
        let refs = store.refs
        while let slot = toHasher.receive() {
            let base = UnsafeRawPointer(slot.buffer.baseAddress!)
            try store.env.read { txn in
                for event in slot.events {
                    switch event {
                    case .start(let start):
                        current = (start, [])
                    case .chunk(let offset, let length):
                        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
                        let key = ChunkKey(of: bytes)
                        let checksum: ChunkChecksum
                        if let known = seen[key] {
                            checksum = known
                        } else if let value = try key.withUnsafeBytes({ try txn.get(refs, $0) }) {
                            guard let record = ChunkRecord(decoding: value), record.size == length else {
                                throw StoreError.corruption("the record of chunk \(key.hex) does not match its \(length) bytes (run `blockyard store verify`)")
                            }
                            checksum = record.checksum
                            seen[key] = checksum
                        } else {
                            checksum = BLAKE2b.chunkChecksum(bytes)
                            seen[key] = checksum
                            slot.newChunks.append(NewChunk(key: key, offset: offset, length: length, checksum: checksum))
                            newChunks += 1
                            newBytes += length
                        }
                        current!.chunks.append(ManifestChunk(key: key, checksum: checksum, size: length))
                    case .end(let end):
                        guard let (start, chunks) = current.map({ ($0.start, $0.chunks) }) else { continue }
                        current = nil
                        var member: ManifestMember
                        if let target = start.aliasOf {
                            guard let i = index[target] else {
                                throw StoreError.invalidInput(path: start.path, reason: "hard link to \(target.debugDescription), which comes later or not at all")
                            }
                            member = members[i]
                            member.path = start.path
                            member.mode = start.mode
                        } else {
                            member = ManifestMember(path: start.path, mode: start.mode, kind: start.kind, size: end.size,
                                                    sha512: end.sha512!, sha256: end.sha256!, chunks: chunks,
                                                    endsOnCut: end.endsOnCut, forcedCuts: end.forcedCuts,
                                                    boundaryFormat: start.boundaryFormat)
                        }
                        if let earlier = index[member.path] {
                            // Archives may hold a path twice; extracting keeps the last one.
                            hasherWarnings.append("\(member.path): appears more than once; the last copy is kept")
                            members.remove(at: earlier)
                            index = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.path, $0) })
                        }
                        index[member.path] = members.count
                        members.append(member)
                    }
                }
            }
            guard toWriter.send(slot) else { throw PipelineCancelled() }
        }
        toWriter.close()
    }

    // MARK: Stage 4: the LMDB writer

    private func writeStage() throws {
        // Items of the current transaction, as ranges of their slots' new chunks. A slot goes
        // back to the pool only once all its items are committed, so a batch redone after
        // MDB_MAP_FULL still finds its bytes.
        var batch: [(slot: Slot, items: Range<Int>)] = []
        var batchBytes = 0
        var held: [Slot] = []
        let maxHeld = max(2, pool.maxSlots / 2)
        var previousCommitEnd: Int?
        var dropped = store.env.info.usedBytes / WriteBehind.granule * WriteBehind.granule
        func dropUpTo(_ end: Int) {
            let limit = end / WriteBehind.granule * WriteBehind.granule
            guard limit > dropped else { return }
            store.env.dropCachedPages(from: dropped, to: limit)
            dropped = limit
        }
        let chunks = store.chunks, refs = store.refs
        func commit(keepingLast: Bool) throws {
            if !batch.isEmpty {
                var written: [ChunkKey] = []
                try store.env.write { txn in
                    written.removeAll(keepingCapacity: true) // a batch redone after MDB_MAP_FULL
                    for (slot, items) in batch {
                        let base = UnsafeRawPointer(slot.buffer.baseAddress!)
                        for item in slot.newChunks[items] {
                            try item.key.withUnsafeBytes { key in
                                guard let target = try txn.reserve(chunks, key, count: item.length) else { return }
                                written.append(item.key)
                                target.baseAddress!.copyMemory(from: base + item.offset, byteCount: item.length)
                                let record = ChunkRecord(refcount: 0, size: item.length, checksum: item.checksum)
                                try withUnsafeTemporaryAllocation(byteCount: ChunkRecord.encodedSize, alignment: 8) { buffer in
                                    record.encode(into: buffer.baseAddress!)
                                    try txn.put(refs, key, UnsafeRawBufferPointer(buffer), noOverwrite: true)
                                }
                            }
                        }
                    }
                }
                // The commit before this one synced its pages and this one has mapped the B-tree
                // pages it still needs: drop the rest of that commit's cache, so the next batch
                // reuses those pages (see LMDBEnvironment.dropCachedPages). In whole 2 MiB
                // steps, as WriteBehind does: a larger folio straddling the end would be kept.
                storedKeys += written
                if let end = previousCommitEnd { dropUpTo(end) }
                previousCommitEnd = store.env.info.usedBytes
                batches += 1
                batch.removeAll()
                batchBytes = 0
            }
            let kept = keepingLast ? held.popLast() : nil
            held.forEach(pool.give)
            held = kept.map { [$0] } ?? []
        }
        while let slot = toWriter.receive() {
            held.append(slot)
            var first = 0
            for (i, item) in slot.newChunks.enumerated() {
                batchBytes += item.length
                if batchBytes >= config.batchBytes {
                    batch.append((slot, first..<(i + 1)))
                    first = i + 1
                    try commit(keepingLast: first < slot.newChunks.count)
                }
            }
            if first < slot.newChunks.count { batch.append((slot, first..<slot.newChunks.count)) }
            if held.count >= maxHeld { try commit(keepingLast: false) }
        }
        if failure.error == nil { try commit(keepingLast: false) }
        if let end = previousCommitEnd { dropUpTo(end) }
    }
}

// MARK: Slots

struct MemberStart {
    var path: String
    var mode: UInt32
    var kind: ManifestMember.Kind
    /// Set for a tar hard link: the member whose content this one shares.
    var aliasOf: String?
    var boundaryFormat: BoundaryFormat?
}

struct MemberEnd {
    var size: Int
    /// Set by the digester stage.
    var sha512: Digest?
    var sha256: Digest?
    var endsOnCut: Bool
    var forcedCuts: Int

    static var empty: MemberEnd {
        MemberEnd(size: 0, sha512: SHA2Hasher(.sha512).finalize(), sha256: SHA2Hasher(.sha256).finalize(),
                  endsOnCut: true, forcedCuts: 0)
    }
}

enum SlotEvent {
    case start(MemberStart)
    /// A complete chunk at `offset` in the slot.
    case chunk(offset: Int, length: Int)
    case end(MemberEnd)
}

struct NewChunk {
    var key: ChunkKey
    var offset: Int
    var length: Int
    var checksum: ChunkChecksum
}

/// A read buffer and what the stages found in it.
final class Slot: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    var length = 0
    var events: [SlotEvent] = []
    var newChunks: [NewChunk] = []

    init(capacity: Int) {
        buffer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { buffer.deallocate() }

    var capacity: Int { buffer.count }

    func reset() {
        length = 0
        events.removeAll(keepingCapacity: true)
        newChunks.removeAll(keepingCapacity: true)
    }
}

/// At most `maxSlots` slots, allocated on demand and reused.
final class SlotPool: @unchecked Sendable {
    let capacity: Int
    let maxSlots: Int
    private var free: [Slot] = []
    private var allocated = 0
    private var cancelled = false
    private let condition = NSCondition()

    init(capacity: Int, maxSlots: Int) {
        self.capacity = capacity
        self.maxSlots = maxSlots
    }

    /// A clean slot, waiting for one to be given back if all are in use; nil once cancelled.
    func take() -> Slot? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if cancelled { return nil }
            if let slot = free.popLast() {
                slot.reset()
                return slot
            }
            if allocated < maxSlots {
                allocated += 1
                return Slot(capacity: capacity)
            }
            condition.wait()
        }
    }

    func give(_ slot: Slot) {
        condition.lock()
        free.append(slot)
        condition.signal()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
