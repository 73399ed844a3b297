import BlockyardCore
import Foundation

/// What `store rm` did.
public struct RemoveReport: Sendable {
    public var ref: VersionRef
    public var size: Int
    /// Chunks that no version references any more (`gc` deletes them).
    public var releasedChunks: Int
    public var releasedBytes: Int
}

/// What `store gc` did (or would do, in a dry run).
public struct GarbageReport: Sendable {
    public var removedChunks: Int
    public var removedBytes: Int
    public var dryRun: Bool
}

/// The findings of `store verify`.
public struct VerifyReport: Sendable {
    public var chunks = 0
    public var chunkBytes = 0
    public var manifests = 0
    /// Members whose full content was rebuilt and re-hashed (`full`).
    public var membersRebuilt = 0
    /// Chunks no manifest references: left by an interrupted add or a `store rm`. Not a
    /// problem; `gc` removes them.
    public var unreferencedChunks = 0
    public var unreferencedBytes = 0
    /// Every inconsistency found, one line each. Empty means the store is sound.
    public var problems: [String] = []

    public var ok: Bool { problems.isEmpty }
}

/// Sizes and dedup figures of the store.
public struct StoreStats: Sendable {
    public struct Name: Sendable {
        public var name: String
        public var versions: Int
        /// Bytes of all its versions together.
        public var logicalBytes: Int
        /// Bytes of the distinct chunks its versions use (chunks shared with other names count
        /// for each of them).
        public var uniqueBytes: Int
        public var uniqueChunks: Int
        public var dedupRatio: Double? { uniqueBytes > 0 ? Double(logicalBytes) / Double(uniqueBytes) : nil }
    }

    public var versions = 0
    public var chunks = 0
    /// Bytes of all versions together.
    public var logicalBytes = 0
    /// Bytes of the distinct chunks stored.
    public var physicalBytes = 0
    public var unreferencedChunks = 0
    public var unreferencedBytes = 0
    /// Bytes of the LMDB file in use (pages up to the last one used) and the map's size.
    public var usedFileBytes = 0
    public var mapBytes = 0
    /// Disk blocks the data file occupies.
    public var allocatedFileBytes = 0
    public var names: [Name] = []

    public var dedupRatio: Double? { physicalBytes > 0 ? Double(logicalBytes) / Double(physicalBytes) : nil }
}

extension ChunkStore {
    // MARK: rm

    /// Removes the manifest of `ref` and releases its chunk references, in one transaction.
    /// The chunks themselves stay until ``collectGarbage(dryRun:)``.
    public func remove(_ ref: VersionRef) throws(StoreError) -> RemoveReport {
        precondition(access == .write, "rm needs a store opened for writing")
        let report: RemoveReport = try guarded {
            try env.write { txn in
                guard let value = try txn.get(manifests, ref.key) else { throw StoreError.versionNotFound(ref) }
                let manifest = try ManifestCodec.decode(value)
                var counts: [ChunkKey: UInt64] = [:]
                for member in manifest.members {
                    for chunk in member.chunks { counts[chunk.key, default: 0] += 1 }
                }
                var released = 0, releasedBytes = 0
                for key in counts.keys.sorted() {
                    try key.withUnsafeBytes { k in
                        guard let v = try txn.get(refs, k), var record = ChunkRecord(decoding: v), record.refcount >= counts[key]! else {
                            throw StoreError.corruption("the reference count of chunk \(key.hex) is lower than \(ref)'s use of it (run `blockyard store verify`)")
                        }
                        record.refcount -= counts[key]!
                        if record.refcount == 0 {
                            released += 1
                            releasedBytes += record.size
                        }
                        _ = try record.encoded.withUnsafeBytes { try txn.put(refs, k, $0) }
                    }
                }
                try txn.delete(manifests, ref.key)
                return RemoveReport(ref: ref, size: manifest.size, releasedChunks: released, releasedBytes: releasedBytes)
            }
        }
        try guarded { try env.sync() }
        return report
    }

    // MARK: gc

    /// Deletes every chunk whose reference count is zero. Runs under the writer lock, so no
    /// add can be between storing a chunk and referencing it.
    public func collectGarbage(dryRun: Bool = false) throws(StoreError) -> GarbageReport {
        precondition(access == .write, "gc needs a store opened for writing")
        return try guarded {
            let garbage: [(ChunkKey, Int)] = try env.read { txn in
                var out: [(ChunkKey, Int)] = []
                try txn.forEach(refs) { key, value in
                    if let record = ChunkRecord(decoding: value), record.refcount == 0, key.count == ChunkKey.byteCount {
                        out.append((ChunkKey(bytes: key.baseAddress!), record.size))
                    }
                    return true
                }
                return out
            }
            var report = GarbageReport(removedChunks: 0, removedBytes: 0, dryRun: dryRun)
            if dryRun {
                report.removedChunks = garbage.count
                report.removedBytes = garbage.reduce(0) { $0 + $1.1 }
                return report
            }
            var start = 0
            while start < garbage.count {
                let batch = garbage[start..<min(start + 4096, garbage.count)]
                let (count, bytes) = try env.write { txn in
                    var count = 0, bytes = 0
                    for (key, _) in batch {
                        try key.withUnsafeBytes { k in
                            // Re-read: only what is still unreferenced goes.
                            guard let v = try txn.get(refs, k), let record = ChunkRecord(decoding: v), record.refcount == 0 else { return }
                            try txn.delete(chunks, k)
                            try txn.delete(refs, k)
                            count += 1
                            bytes += record.size
                        }
                    }
                    return (count, bytes)
                }
                report.removedChunks += count
                report.removedBytes += bytes
                start += batch.count
            }
            try env.sync()
            return report
        }
    }

    // MARK: verify

    /// Re-hashes every chunk (SHA-256 against its key, BLAKE2b-18 against its record, on two
    /// threads), checks that every manifest decodes and references only present chunks with
    /// matching sizes and checksums, and that every reference count equals the number of
    /// references. With `full`, also rebuilds every member and checks its SHA-512.
    /// Reads one consistent snapshot; never blocks writers.
    public func verify(full: Bool = false, progress: (@Sendable (Int) -> Void)? = nil) throws(StoreError) -> VerifyReport {
        try guarded {
            var report = VerifyReport()
            var records: [ChunkKey: ChunkRecord] = [:]
            var toRebuild: [(VersionRef, ManifestMember)] = []
            try env.read { txn in
                try txn.forEach(refs) { key, value in
                    guard key.count == ChunkKey.byteCount else {
                        report.problems.append("refs: a key of \(key.count) bytes (expected 32)")
                        return true
                    }
                    let chunkKey = ChunkKey(bytes: key.baseAddress!)
                    guard let record = ChunkRecord(decoding: value) else {
                        report.problems.append("chunk \(chunkKey.hex): unreadable record")
                        return true
                    }
                    records[chunkKey] = record
                    return true
                }

                // Chunks, hashed in batches on two threads.
                var present = Set<ChunkKey>()
                present.reserveCapacity(records.count)
                var batch: [(ChunkKey, UnsafeRawBufferPointer)] = []
                func check(_ batch: [(ChunkKey, UnsafeRawBufferPointer)]) {
                    let workers = 2
                    let findings = UncheckedBox([[String]](repeating: [], count: workers))
                    let box = UncheckedBox(batch)
                    let recordsBox = UncheckedBox(records)
                    DispatchQueue.concurrentPerform(iterations: workers) { w in
                        var local: [String] = []
                        var i = w
                        while i < box.value.count {
                            let (key, bytes) = box.value[i]
                            if ChunkKey(of: bytes) != key {
                                local.append("chunk \(key.hex): its bytes do not hash to its key (corrupted)")
                            } else if let record = recordsBox.value[key] {
                                if record.size != bytes.count {
                                    local.append("chunk \(key.hex): \(bytes.count) bytes, its record says \(record.size)")
                                } else if BLAKE2b.chunkChecksum(bytes) != record.checksum {
                                    local.append("chunk \(key.hex): its blockmap checksum does not match its record")
                                }
                            }
                            i += workers
                        }
                        findings.value[w] = local
                    }
                    report.problems += findings.value.flatMap { $0 }
                    progress?(batch.reduce(0) { $0 + $1.1.count })
                }
                try txn.forEach(chunks) { key, value in
                    guard key.count == ChunkKey.byteCount else {
                        report.problems.append("chunks: a key of \(key.count) bytes (expected 32)")
                        return true
                    }
                    let chunkKey = ChunkKey(bytes: key.baseAddress!)
                    present.insert(chunkKey)
                    report.chunks += 1
                    report.chunkBytes += value.count
                    if records[chunkKey] == nil {
                        report.problems.append("chunk \(chunkKey.hex): stored without a record")
                    }
                    batch.append((chunkKey, value))
                    if batch.count == 2048 {
                        check(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                    return true
                }
                if !batch.isEmpty { check(batch) }
                for key in records.keys where !present.contains(key) {
                    report.problems.append("chunk \(key.hex): recorded but its bytes are missing")
                }

                // Manifests and reference counts.
                var counts: [ChunkKey: UInt64] = [:]
                try txn.forEach(manifests) { key, value in
                    report.manifests += 1
                    let label = VersionRef(key: key)?.description ?? "manifest \(Hex.encode(key))"
                    let manifest: Manifest
                    do {
                        manifest = try ManifestCodec.decode(value)
                    } catch {
                        report.problems.append("\(label): \(error)")
                        return true
                    }
                    for member in manifest.members {
                        var missing = 0
                        for chunk in member.chunks {
                            counts[chunk.key, default: 0] += 1
                            guard let record = records[chunk.key], present.contains(chunk.key) else {
                                missing += 1
                                if missing <= 3 {
                                    report.problems.append("\(label) \(member.path): references missing chunk \(chunk.key.hex)")
                                }
                                continue
                            }
                            if record.size != chunk.size || record.checksum != chunk.checksum {
                                report.problems.append("\(label) \(member.path): chunk \(chunk.key.hex) differs from its record")
                            }
                        }
                        if missing > 3 {
                            report.problems.append("\(label) \(member.path): \(missing - 3) more missing chunks")
                        }
                        if full && member.kind == .regular && missing == 0 { toRebuild.append((manifest.ref, member)) }
                    }
                    return true
                }
                for (key, record) in records {
                    let expected = counts[key] ?? 0
                    if record.refcount != expected {
                        report.problems.append("chunk \(key.hex): reference count \(record.refcount), but manifests reference it \(expected) times")
                    }
                    if expected == 0 {
                        report.unreferencedChunks += 1
                        report.unreferencedBytes += record.size
                    }
                }
            }
            for (ref, member) in toRebuild {
                do {
                    // reconstruct checks the SHA-512; the SHA-256 is checked here.
                    let sha256 = SHA2Hasher(.sha256)
                    _ = try reconstruct(member, of: ref) { pieces in pieces.forEach(sha256.update) }
                    if sha256.finalize() != member.sha256 {
                        report.problems.append("\(ref) \(member.path): the rebuilt bytes do not match the manifest's SHA-256")
                    }
                    report.membersRebuilt += 1
                } catch {
                    report.problems.append("\(error)")
                }
            }
            return report
        }
    }

    // MARK: stats

    /// Counts chunks and bytes, per name and in total. With `perName` false, only the totals
    /// (no manifest is decoded beyond its header).
    public func stats(perName: Bool = true) throws(StoreError) -> StoreStats {
        var stats: StoreStats = try guarded {
            try env.read { txn in
                var stats = StoreStats()
                var sizes: [ChunkKey: Int] = [:]
                try txn.forEach(refs) { key, value in
                    guard let record = ChunkRecord(decoding: value), key.count == ChunkKey.byteCount else { return true }
                    stats.chunks += 1
                    stats.physicalBytes += record.size
                    if record.refcount == 0 {
                        stats.unreferencedChunks += 1
                        stats.unreferencedBytes += record.size
                    }
                    if perName { sizes[ChunkKey(bytes: key.baseAddress!)] = record.size }
                    return true
                }
                var current: (name: String, versions: Int, logical: Int, keys: Set<ChunkKey>)?
                func flush() {
                    guard let c = current else { return }
                    let unique = c.keys.reduce(0) { $0 + (sizes[$1] ?? 0) }
                    stats.names.append(.init(name: c.name, versions: c.versions, logicalBytes: c.logical,
                                             uniqueBytes: unique, uniqueChunks: c.keys.count))
                }
                try txn.forEach(manifests) { _, value in
                    if perName {
                        let manifest = try ManifestCodec.decode(value)
                        if current?.name != manifest.ref.name {
                            flush()
                            current = (manifest.ref.name, 0, 0, [])
                        }
                        current!.versions += 1
                        current!.logical += manifest.size
                        for member in manifest.members { for chunk in member.chunks { current!.keys.insert(chunk.key) } }
                        stats.versions += 1
                        stats.logicalBytes += manifest.size
                    } else {
                        let summary = try ManifestCodec.decodeSummary(value)
                        stats.versions += 1
                        stats.logicalBytes += summary.size
                    }
                    return true
                }
                flush()
                return stats
            }
        }
        let info = env.info
        stats.usedFileBytes = info.usedBytes
        stats.mapBytes = info.mapSize
        var st = stat()
        if stat(path + "/" + StoreFormat.dataFile, &st) == 0 { stats.allocatedFileBytes = Int(st.st_blocks) * 512 }
        return stats
    }
}
