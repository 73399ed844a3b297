import BlockyardCore
@_spi(Testing) @testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("Chunk store: add, rebuild, blockmaps")
struct ChunkStoreTests {
    /// Chunks in the manifest are exactly the blockmap's, in both generations, including the
    /// edge cases of the chunker (empty, exact cut at the end, zero runs cut by MAX).
    @Test(arguments: ["empty", "hello-world", "random-4342-8192", "zeros-1048576", "random-7-1000000"])
    func manifestBlockmapEqualsBlockmapBuilder(vector: String) throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let input = try #require(VectorInputs.generate(vector))
        let path = try dir.write(vector, input)
        let ref = StoreFixtures.ref("v@1")
        let report = try store.add(path: path, as: ref)
        #expect(report.size == input.count)
        let member = try store.manifest(ref).members[0]
        for compat in BlockmapCompat.allCases {
            let expected = input.withUnsafeBytes { BlockmapBuilder.build($0, compat: compat) }
            let fromManifest = member.blockmap(compat: compat)
            #expect(fromManifest.blockmap == expected.blockmap, "\(vector) \(compat)")
            #expect(fromManifest.info == expected.info)
        }
        #expect(member.sha256 == SHA2Hasher.hash(.sha256, input))
        #expect(try StoreFixtures.bytes(store, "v@1") == input)
        #expect(try store.verify(full: true).ok)
    }

    @Test func identicalVersionsShareEveryChunk() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let path = try dir.write("a.bin", VectorInputs.randomBytes(seed: 1, count: 3_000_000))
        let first = try store.add(path: path, as: StoreFixtures.ref("a@1"))
        #expect(first.newBytes == 3_000_000 && first.newChunks == first.chunks)
        let second = try store.add(path: path, as: StoreFixtures.ref("a@2"))
        #expect(second.newBytes == 0 && second.newChunks == 0 && !second.unchanged)
        let stats = try store.stats()
        #expect(stats.logicalBytes == 6_000_000 && stats.physicalBytes == 3_000_000)
        #expect(stats.dedupRatio == 2)
        #expect(stats.names.count == 1 && stats.names[0].versions == 2 && stats.names[0].uniqueBytes == 3_000_000)
    }

    @Test func repeatedChunksInOneFileAreStoredOnce() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        // 64 zero chunks of 32 KiB: one distinct chunk referenced 64 times.
        let path = try dir.write("zeros", [UInt8](repeating: 0, count: 64 * 32768))
        let report = try store.add(path: path, as: StoreFixtures.ref("z@1"))
        #expect(report.chunks == 64 && report.newChunks == 1 && report.newBytes == 32768)
        #expect(try store.verify().ok)
        let removed = try store.remove(StoreFixtures.ref("z@1"))
        #expect(removed.releasedChunks == 1 && removed.releasedBytes == 32768)
    }

    /// The dedup requirement, scaled down: one changed tensor costs its own bytes.
    @Test func oneChangedTensorCostsOnlyThatTensor() throws {
        let sizes = [1 << 20, 300_000, 2 << 20, 5000, 700_000, 1_500_000, 12_000, 1 << 20]
        var tensors = sizes.enumerated().map { ("layer.\($0.offset)", VectorInputs.randomBytes(seed: UInt64(100 + $0.offset), count: $0.element)) }
        let v1 = StoreFixtures.safetensors(tensors)
        tensors[2].1 = VectorInputs.randomBytes(seed: 999, count: sizes[2])
        let v2 = StoreFixtures.safetensors(tensors)
        #expect(v1.count == v2.count)

        for aware in [true, false] {
            let dir = try TemporaryDirectory("store")
            let store = try StoreFixtures.store(in: dir)
            var options = AddOptions()
            options.aware = aware
            _ = try store.add(path: try dir.write("m1.safetensors", v1), as: StoreFixtures.ref("m@1"), options: options)
            let second = try store.add(path: try dir.write("m2.safetensors", v2), as: StoreFixtures.ref("m@2"), options: options)
            let member = try store.manifest(StoreFixtures.ref("m@2")).members[0]
            if aware {
                // Cut at both ends of the tensor: exactly its bytes are new.
                #expect(second.newBytes == sizes[2])
                #expect(member.boundaryFormat == .safetensors && member.forcedCuts > 0)
                // The manifest's blockmap follows the store's chunks; re-chunking gives
                // electron-builder's.
                let exact = v2.withUnsafeBytes { BlockmapBuilder.build($0) }
                #expect(try store.rechunkedBlockmap(member, of: StoreFixtures.ref("m@2")).blockmap == exact.blockmap)
                #expect(member.blockmap().blockmap != exact.blockmap)
            } else {
                // Content-defined cuts alone: the chunks straddling the tensor's ends are new too.
                #expect(second.newBytes > sizes[2] && second.newBytes <= sizes[2] + 2 * 32768)
                #expect(member.forcedCuts == 0 && member.boundaryFormat == nil)
            }
            #expect(try StoreFixtures.bytes(store, "m@2") == v2)
            #expect(try store.verify().ok)
        }
    }

    @Test func ggufTensorsAreCut() throws {
        let tensors = (0..<6).map { ("blk.\($0)", VectorInputs.randomBytes(seed: UInt64(40 + $0), count: 4 * (20_000 + 9_001 * $0))) }
        let (file, _, starts) = StoreFixtures.gguf(tensors)
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        _ = try store.add(path: try dir.write("m.gguf", file), as: StoreFixtures.ref("g@1"))
        let member = try store.manifest(StoreFixtures.ref("g@1")).members[0]
        #expect(member.boundaryFormat == .gguf)
        var ends: Set<Int> = []
        var offset = 0
        for c in member.chunks { offset += c.size; ends.insert(offset) }
        for s in starts { #expect(ends.contains(s), "no chunk boundary at tensor start \(s)") }
        #expect(try StoreFixtures.bytes(store, "g@1") == file)
    }

    @Test func retriedAddIsIdempotentAndOtherContentIsRefused() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let a = try dir.write("a", VectorInputs.randomBytes(seed: 3, count: 100_000))
        let b = try dir.write("b", VectorInputs.randomBytes(seed: 4, count: 100_000))
        _ = try store.add(path: a, as: StoreFixtures.ref("x@1"))
        #expect(try store.add(path: a, as: StoreFixtures.ref("x@1")).unchanged)
        #expect {
            _ = try store.add(path: b, as: StoreFixtures.ref("x@1"))
        } throws: { error in
            if case StoreError.versionExists = error { return true }
            return false
        }
        // The refused add removed the chunks it had stored: nothing is left for gc.
        #expect(try store.verify().ok)
        #expect(try store.stats().unreferencedChunks == 0)
        let gc = try store.collectGarbage()
        #expect(gc.removedBytes == 0)
        #expect(try StoreFixtures.bytes(store, "x@1") == VectorInputs.randomBytes(seed: 3, count: 100_000))
        // A file of another size is refused before anything is stored.
        let c = try dir.write("c", VectorInputs.randomBytes(seed: 5, count: 50_000))
        #expect(throws: StoreError.self) { try store.add(path: c, as: StoreFixtures.ref("x@1")) }
        #expect(try store.stats().unreferencedChunks == 0)
        // The same bytes chunked differently (no tensor cuts here, so: same chunks) are the same content.
        var plain = AddOptions()
        plain.aware = false
        #expect(try store.add(path: a, as: StoreFixtures.ref("x@1"), options: plain).unchanged)
    }

    @Test func removeAndGarbageCollectKeepSharedChunks() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let base = VectorInputs.randomBytes(seed: 10, count: 1_000_000)
        let edited = Array(base[0..<500_000]) + VectorInputs.randomBytes(seed: 11, count: 200_000) + Array(base[500_000...])
        _ = try store.add(path: try dir.write("v1", base), as: StoreFixtures.ref("app@1"))
        _ = try store.add(path: try dir.write("v2", edited), as: StoreFixtures.ref("app@2"))
        let before = try store.stats()
        let removed = try store.remove(StoreFixtures.ref("app@1"))
        #expect(removed.size == 1_000_000)
        // Only the chunks unique to v1 (around the edit) are released.
        #expect(removed.releasedBytes > 0 && removed.releasedBytes < 100_000)
        #expect(try store.stats().unreferencedBytes == removed.releasedBytes)
        #expect(try store.collectGarbage(dryRun: true).removedBytes == removed.releasedBytes)
        let gc = try store.collectGarbage()
        #expect(gc.removedChunks == removed.releasedChunks && gc.removedBytes == removed.releasedBytes)
        let after = try store.stats()
        #expect(after.physicalBytes == before.physicalBytes - removed.releasedBytes)
        #expect(after.unreferencedChunks == 0 && after.versions == 1)
        #expect(try StoreFixtures.bytes(store, "app@2") == edited)
        #expect(try store.verify(full: true).ok)
        #expect(throws: StoreError.self) { try store.manifest(StoreFixtures.ref("app@1")) }
        #expect(throws: StoreError.self) { try store.remove(StoreFixtures.ref("app@1")) }
    }

    @Test func verifyFindsCorruptedAndMissingChunks() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let data = VectorInputs.randomBytes(seed: 20, count: 400_000)
        _ = try store.add(path: try dir.write("f", data), as: StoreFixtures.ref("f@1"))
        let chunks = try store.manifest(StoreFixtures.ref("f@1")).members[0].chunks
        #expect(try store.verify().ok)

        #expect(try store.damageChunkForTesting(chunks[3].key, flipByteAt: 1234))
        let report = try store.verify()
        #expect(!report.ok)
        #expect(report.problems.contains { $0.contains(chunks[3].key.hex) && $0.contains("corrupted") })
        #expect {
            _ = try StoreFixtures.bytes(store, "f@1")
        } throws: { error in
            guard case StoreError.corruption(let why) = error else { return false }
            return why.contains("SHA-512")
        }

        try store.deleteChunkForTesting(chunks[5].key)
        let missing = try store.verify()
        #expect(missing.problems.contains { $0.contains("references missing chunk \(chunks[5].key.hex)") })
        #expect(throws: StoreError.self) { try StoreFixtures.bytes(store, "f@1") }
    }

    @Test func rangedReadsReturnExactlyTheRange() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let data = VectorInputs.randomBytes(seed: 22, count: 700_000)
        _ = try store.add(path: try dir.write("f", data), as: StoreFixtures.ref("f@1"))
        let ref = StoreFixtures.ref("f@1")
        let member = try store.manifest(ref).members[0]
        let firstChunk = member.chunks[0].size
        let ranges = [0..<700_000, 0..<1, 699_999..<700_000, firstChunk - 1..<firstChunk + 1,
                      firstChunk..<firstChunk + 5, 123_456..<654_321, 5..<5]
        for range in ranges {
            var out: [UInt8] = []
            try store.read(member, of: ref, range: range) { pieces in pieces.forEach { out.append(contentsOf: $0) } }
            #expect(out == Array(data[range]), "\(range)")
        }
        #expect(throws: StoreError.self) { try store.read(member, of: ref, range: 699_000..<700_001) { _ in } }
        // A corrupted chunk is refused before its bytes are handed out, unless unchecked.
        #expect(try store.damageChunkForTesting(member.chunks[1].key, flipByteAt: 7))
        let inSecond = firstChunk + 3..<firstChunk + 10
        #expect(throws: StoreError.self) { try store.read(member, of: ref, range: inSecond) { _ in } }
        var unchecked: [UInt8] = []
        try store.read(member, of: ref, range: inSecond, verify: false) { pieces in pieces.forEach { unchecked.append(contentsOf: $0) } }
        // Byte 7 of the second chunk was flipped: it lies inside the range.
        #expect(unchecked.count == 7 && unchecked != Array(data[inSecond]))
        // Ranges that avoid the damaged chunk still read.
        var head: [UInt8] = []
        try store.read(member, of: ref, range: 0..<100) { pieces in pieces.forEach { head.append(contentsOf: $0) } }
        #expect(head == Array(data[0..<100]))
    }

    @Test func verifyFindsWrongReferenceCounts() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        _ = try store.add(path: try dir.write("f", VectorInputs.randomBytes(seed: 21, count: 100_000)), as: StoreFixtures.ref("f@1"))
        let key = try store.manifest(StoreFixtures.ref("f@1")).members[0].chunks[0].key
        try store.env.write { txn in
            try key.withUnsafeBytes { k in
                var record = ChunkRecord(decoding: try txn.get(store.refs, k)!)!
                record.refcount += 1
                _ = try record.encoded.withUnsafeBytes { try txn.put(store.refs, k, $0) }
            }
        }
        let report = try store.verify()
        #expect(report.problems == ["chunk \(key.hex): reference count 2, but manifests reference it 1 times"])
    }

    /// A map far too small: the writer meets MDB_MAP_FULL, grows the map and redoes batches.
    @Test func mapGrowsWhenFull() throws {
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir, mapSize: 1 << 20)
        let data = VectorInputs.randomBytes(seed: 30, count: 6_000_000)
        var options = AddOptions()
        options.reservesMap = false
        options.batchBytes = 1 << 20
        let report = try store.add(path: try dir.write("big", data), as: StoreFixtures.ref("big@1"), options: options)
        #expect(report.batches >= 5)
        #expect(store.mapInfo.growCount >= 1)
        #expect(store.mapInfo.mapSize >= 6_000_000)
        #expect(try StoreFixtures.bytes(store, "big@1") == data)
        #expect(try store.verify().ok)
    }

    @Test func newerFormatAndForeignDirectoriesAreRefused() throws {
        let dir = try TemporaryDirectory("store")
        do {
            let store = try StoreFixtures.store(in: dir)
            try store.setFormatVersionForTesting(StoreFormat.version + 1)
        }
        #expect {
            _ = try ChunkStore.open(at: dir.path("store"), access: .read)
        } throws: { error in
            guard case StoreError.newerFormat(_, let found, let supported) = error else { return false }
            return found == StoreFormat.version + 1 && supported == StoreFormat.version
        }
        #expect {
            _ = try ChunkStore.open(at: dir.path("nothing-here"), access: .read)
        } throws: { error in
            if case StoreError.missing = error { return true }
            return false
        }
    }

    @Test func garbageDataFileIsNotAStore() throws {
        let dir = try TemporaryDirectory("store")
        try FileManager.default.createDirectory(atPath: dir.path("junk"), withIntermediateDirectories: true)
        try dir.write("junk/data.mdb", VectorInputs.randomBytes(seed: 8, count: 64 << 10))
        for access in [ChunkStore.Access.read, .write] {
            #expect {
                _ = try ChunkStore.open(at: dir.path("junk"), access: access)
            } throws: { error in
                guard case StoreError.notAStore(_, let reason) = error else { return false }
                return reason.contains("not an LMDB file")
            }
        }
    }

    @Test func initializeIsIdempotentAndRefusesNonEmptyDirectories() throws {
        let dir = try TemporaryDirectory("store")
        do {
            let (_, created) = try ChunkStore.initialize(at: dir.path("s"))
            #expect(created)
        }
        do {
            let (_, created) = try ChunkStore.initialize(at: dir.path("s"))
            #expect(!created)
        }
        try FileManager.default.createDirectory(atPath: dir.path("busy"), withIntermediateDirectories: true)
        try dir.write("busy/notes.txt", Array("hello".utf8))
        #expect {
            _ = try ChunkStore.initialize(at: dir.path("busy"))
        } throws: { error in
            if case StoreError.notAStore = error { return true }
            return false
        }
    }

    @Test func secondWriterIsRefusedWhileReadersProceed() throws {
        let dir = try TemporaryDirectory("store")
        let writer = try StoreFixtures.store(in: dir)
        _ = try writer.add(path: try dir.write("f", [1, 2, 3]), as: StoreFixtures.ref("f@1"))
        // The writer lock is a flock on its own file description: a second open in this
        // process meets it just like another process would. (Only the lock is tried: LMDB
        // must not be opened twice in one process.)
        #expect {
            _ = try WriterLock(directory: dir.path("store"), wait: false, purpose: "test")
        } throws: { error in
            guard case StoreError.locked(_, let holder) = error else { return false }
            return holder.contains("pid \(getpid())")
        }
    }
}

/// A large add keeps only about two batches of the store in the page cache (the writer drops
/// what each earlier commit appended), and what it stored is intact.
@Suite("Chunk store: page cache during add")
struct ChunkStoreCacheTests {
    @Test func addDropsTheCacheOfCommittedBatches() throws {
        let dir = try TemporaryDirectory("store-cache")
        let store = try StoreFixtures.store(in: dir)
        let bytes = VectorInputs.randomBytes(seed: 41, count: 24 << 20)
        let path = try dir.write("big.bin", bytes)
        var options = AddOptions()
        options.batchBytes = 1 << 20
        let report = try store.add(path: path, as: StoreFixtures.ref("big@1"), options: options)
        #expect(report.newBytes == bytes.count && report.batches >= 20)
        // The writer finds its own map of data.mdb (LMDB does not publish its address).
        let data = dir.path("store/data.mdb")
        let fd = open(data, O_RDONLY)
        defer { close(fd) }
        let maps = LMDBEnvironment.mappings(of: fd)
        #expect(maps.count == 1 && maps.first?.count == store.env.info.mapSize)
        if PageCache.canDrop(in: dir.url.path) {
            let cached = try #require(PageCache.residentPages(data))
            #expect(cached.resident * 4 < cached.total, "\(cached.resident) of \(cached.total) pages of data.mdb still cached")
        }
        #expect(try StoreFixtures.bytes(store, "big@1") == bytes)
        #expect(try store.verify().ok)

        // Export writes behind itself too: a window of the file stays cached, the bytes are exact.
        let out = dir.path("export")
        let exported = try store.export(StoreFixtures.ref("big@1"), to: out, overwrite: false, cacheWindow: 1 << 20)
        #expect(exported.files == 1 && exported.bytes == bytes.count)
        if PageCache.canDrop(in: dir.url.path) {
            let cached = try #require(PageCache.residentPages(out + "/big.bin"))
            #expect(cached.resident * 4 < cached.total, "\(cached.resident) of \(cached.total) pages of the export still cached")
        }
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: out + "/big.bin"))) == bytes)

        // So does `store cat` into a regular file (appended after existing bytes here).
        let catPath = try dir.write("cat.bin", Array("head".utf8))
        let catFD = open(catPath, O_WRONLY | O_APPEND)
        defer { close(catFD) }
        let manifest = try store.manifest(StoreFixtures.ref("big@1"))
        _ = try store.reconstruct(try store.member(of: manifest, path: nil), of: StoreFixtures.ref("big@1"), to: catFD,
                                  label: catPath, cacheWindow: 1 << 20)
        #expect(fsync(catFD) == 0)
        if PageCache.canDrop(in: dir.url.path) {
            let cached = try #require(PageCache.residentPages(catPath))
            #expect(cached.resident * 4 < cached.total, "\(cached.resident) of \(cached.total) pages of the cat output still cached")
        }
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: catPath))) == Array("head".utf8) + bytes)
    }
}
