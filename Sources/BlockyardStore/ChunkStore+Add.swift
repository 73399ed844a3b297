import BlockyardCore
import Foundation

/// Options of ``ChunkStore/add(path:as:options:)``.
public struct AddOptions: Sendable {
    /// Cut at tensor boundaries of safetensors and GGUF members (detected by content).
    public var aware = true
    /// Unpack archives into members: nil decides by the file name (.tar, .tar.gz, .tgz,
    /// .tar.bz2, .tar.xz, .tar.zst, .zip); false stores any file as one member.
    public var unpack: Bool?
    /// New chunk bytes per write transaction.
    public var batchBytes = 32 << 20
    /// Called on the reading thread with the bytes read so far (member data).
    public var progress: (@Sendable (Int) -> Void)?
    /// Grow the map ahead of time from the input's size. Tests turn it off so that the
    /// writer meets `MDB_MAP_FULL` and has to grow and redo a batch.
    @_spi(Testing) public var reservesMap = true

    public init() {}
}

/// What one `store add` did.
public struct AddReport: Sendable {
    public var ref: VersionRef
    public var source: SourceKind
    public var members: Int
    public var size: Int
    public var chunks: Int
    /// Chunks (and their bytes) this add stored; the rest were already in the store.
    public var newChunks: Int
    public var newBytes: Int
    /// The version was already stored with exactly this content; nothing changed.
    public var unchanged: Bool
    /// Write transactions used for chunk data.
    public var batches: Int
    public var warnings: [String]
    public var seconds: Double
    /// The single member's digests (nil for several members).
    public var sha512: Digest?
    public var sha256: Digest?
}

extension ChunkStore {
    /// Adds the file, directory or archive at `path` as `ref`.
    ///
    /// Chunks go in first, in batched transactions; the manifest and the reference counts of
    /// its chunks follow in one transaction, and the store is flushed before this returns.
    /// A crash at any point leaves either no manifest or a complete one, never one that
    /// points at a missing chunk; chunks stored by an interrupted add stay unreferenced
    /// until `gc` (or a retried add) deals with them. Adding a version that exists with the
    /// same content succeeds without changes (`unchanged`); different content is refused.
    public func add(path: String, as ref: VersionRef, options: AddOptions = AddOptions()) throws(StoreError) -> AddReport {
        precondition(access == .write, "add needs a store opened for writing")
        let started = Date()
        let source = try IngestSources.open(path: path, unpack: options.unpack, excluding: self.path)
        if source is SingleFileSource, let size = source.estimatedSize, let existing = try? manifest(ref),
           existing.members.count != 1 || existing.members[0].size != size {
            // Certainly other content: say so before reading and storing anything.
            throw StoreError.versionExists(ref)
        }
        return try guarded {
            if options.reservesMap, let estimate = source.estimatedSize {
                // Only address space: the file grows with the pages actually written.
                try env.reserve(bytes: estimate + estimate / 8 + (16 << 20))
            }
            var configuration = IngestPipeline.Configuration()
            configuration.aware = options.aware
            configuration.batchBytes = max(1 << 20, options.batchBytes)
            // Slots no larger than half a batch, so that small batches really are committed
            // while reading goes on (4 MiB for the default 32 MiB batches).
            configuration.readSize = min(4 << 20, max(256 << 10, configuration.batchBytes / 2))
            configuration.progress = options.progress
            configuration.sourcePath = path
            let pipeline = IngestPipeline(store: self, configuration: configuration)
            let result: IngestPipeline.Result
            let manifest: Manifest
            let unchanged: Bool
            do {
                result = try pipeline.run(source)
                manifest = Manifest(ref: ref, createdAt: Int64(Date().timeIntervalSince1970 * 1000), source: source.kind,
                                    sourceName: source.sourceName, aware: options.aware, members: result.members)
                unchanged = try commitManifest(manifest)
            } catch {
                // Nothing of a failed add stays: its new chunks are referenced by nothing.
                pipeline.discardStoredChunks()
                throw error
            }
            try env.sync()
            let single = manifest.members.count == 1 ? manifest.members[0] : nil
            return AddReport(ref: ref, source: source.kind, members: manifest.members.count, size: manifest.size,
                             chunks: manifest.chunkCount, newChunks: result.newChunks, newBytes: result.newBytes,
                             unchanged: unchanged, batches: result.batches, warnings: result.warnings,
                             seconds: Date().timeIntervalSince(started), sha512: single?.sha512, sha256: single?.sha256)
        }
    }

    /// Records the manifest and adds its references, in one transaction. Returns true when
    /// an identical manifest was already there.
    private func commitManifest(_ manifest: Manifest) throws -> Bool {
        var counts: [ChunkKey: UInt64] = [:]
        for member in manifest.members {
            for chunk in member.chunks { counts[chunk.key, default: 0] += 1 }
        }
        let keys = counts.keys.sorted()
        let encoded = ManifestCodec.encode(manifest)
        let ref = manifest.ref
        return try env.write { txn in
            if let existing = try txn.get(manifests, ref.key) {
                if try ManifestCodec.decode(existing).sameContent(as: manifest) { return true }
                throw StoreError.versionExists(ref)
            }
            for key in keys {
                try key.withUnsafeBytes { k in
                    guard let value = try txn.get(refs, k), var record = ChunkRecord(decoding: value),
                          try txn.get(chunks, k) != nil else {
                        throw StoreError.corruption("chunk \(key.hex) of \(ref) is missing from the store")
                    }
                    record.refcount += counts[key]!
                    try withUnsafeTemporaryAllocation(byteCount: ChunkRecord.encodedSize, alignment: 8) { buffer in
                        record.encode(into: buffer.baseAddress!)
                        try txn.put(refs, k, UnsafeRawBufferPointer(buffer))
                    }
                }
            }
            try txn.put(manifests, ref.key, encoded)
            return false
        }
    }
}
