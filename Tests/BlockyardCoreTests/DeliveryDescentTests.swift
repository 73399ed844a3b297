import BlockyardCore
import BlockyardTestSupport
import Testing

/// The client's descent of a delivery index: byte-exact results for random edits, the index
/// a small edit costs, and hostile index bytes refused (never a wrong file).
@Suite("Delivery descent")
struct DeliveryDescentTests {
    struct Outcome {
        var plan: DeliveryPlan
        var assembled: [UInt8]
    }

    /// A published new version and the installed old one, cut and hashed once.
    struct Fixture {
        var old: [UInt8]
        var new: [UInt8]
        var index: DeliveryIndex
        var pack: [UInt8]
        var local: [DeliveryLocalChunk]
        init(old: [UInt8], new: [UInt8]) {
            self.old = old
            self.new = new
            (index, pack) = DeliveryPacker.build(new, parameters: DeliveryTestData.parameters)
            local = DeliveryLocalChunk.cut(old, parameters: DeliveryTestData.parameters.chunker)
        }
    }

    static func update(old: [UInt8], new: [UInt8], indexBytes: [UInt8]? = nil, pack: [UInt8]? = nil,
                       root: DeliveryHash? = nil, packSize: UInt64? = nil) throws -> Outcome {
        try update(Fixture(old: old, new: new), indexBytes: indexBytes, pack: pack, root: root, packSize: packSize)
    }

    /// Runs the descent from the fixture's old file against the encoded index (or
    /// `indexBytes` when given, a tampered copy) and assembles the file from the old file and
    /// the pack.
    static func update(_ f: Fixture, indexBytes: [UInt8]? = nil, pack: [UInt8]? = nil,
                       root: DeliveryHash? = nil, packSize: UInt64? = nil) throws -> Outcome {
        let index = f.index, builtPack = f.pack, old = f.old, local = f.local
        let bytes = indexBytes ?? DeliveryIndexCodec.encode(index)
        let packBytes = pack ?? builtPack
        var descent = DeliveryDescent(expectedRoot: root ?? index.rootHash, indexSize: bytes.count,
                                      packSize: packSize ?? UInt64(builtPack.count), local: local)
        let first = DeliveryDescent.initialRange(indexSize: bytes.count)
        descent.receive(Array(bytes[first]), at: 0)
        var plan: DeliveryPlan?
        var rounds = 0
        while plan == nil {
            switch try descent.next() {
            case .fetch(let ranges):
                rounds += 1
                #expect(rounds <= 64, "the descent does not end")
                for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound < b.lowerBound, "ranges sorted and merged") }
                for r in ranges {
                    // A server serves what the file has.
                    let end = min(r.upperBound, bytes.count)
                    if r.lowerBound < end { descent.receive(Array(bytes[r.lowerBound ..< end]), at: r.lowerBound) }
                }
            case .done(let p):
                plan = p
            }
        }
        return Outcome(plan: plan!, assembled: try assemble(plan!, old: old, pack: packBytes))
    }

    /// What the HTTP client does with a plan, in memory.
    static func assemble(_ plan: DeliveryPlan, old: [UInt8], pack: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(plan.artifactSize))
        let decompressor = ZstdDecompressor()
        // Only the ranges the plan names are "downloaded".
        for r in plan.packRanges { #expect(r.upperBound <= UInt64(pack.count)) }
        for item in plan.items {
            #expect(item.targetOffset == UInt64(out.count))
            switch item {
            case .copy(let local, let length, _):
                out += old[Int(local) ..< Int(local + length)]
            case .unpack(let index, let leaf):
                #expect(plan.packRanges.contains { $0.lowerBound <= leaf.packOffset && leaf.packRange.upperBound <= $0.upperBound })
                var chunk = [UInt8](repeating: 0, count: Int(leaf.rawSize))
                let end = min(pack.count, Int(leaf.packRange.upperBound))
                let stored = Array(pack[min(Int(leaf.packOffset), end) ..< end])
                try stored.withUnsafeBytes { s in
                    try chunk.withUnsafeMutableBytes { o in
                        try ChunkPacker.unpack(s, leaf: leaf, leafIndex: index, decompressor: decompressor, into: o)
                    }
                }
                out += chunk
            }
        }
        return out
    }

    /// A random edit: replace, insert or delete up to `maxLength` bytes at a random position.
    static func edit(_ input: [UInt8], rng: inout SplitMix64, maxLength: Int) -> [UInt8] {
        var out = input
        let position = Int(rng.next() % UInt64(max(1, out.count)))
        let length = 1 + Int(rng.next() % UInt64(maxLength))
        let bytes = (0 ..< length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        switch rng.next() % 3 {
        case 0: out.replaceSubrange(position ..< min(out.count, position + length), with: bytes)
        case 1: out.insert(contentsOf: bytes, at: position)
        default: out.removeSubrange(position ..< min(out.count, position + length))
        }
        return out
    }

    @Test("random edits, insertions and deletions: the assembled file is the new file, byte for byte")
    func randomEdits() async throws {
        try await Task.detached {
            var rng = SplitMix64(seed: 0xD11)
            for round in 0 ..< 6 {
                let old = DeliveryTestData.mixed(seed: UInt64(round), count: 1_000_000 + Int(rng.next() % 1_000_000))
                var new = old
                for _ in 0 ..< 1 + round { new = Self.edit(new, rng: &rng, maxLength: round % 2 == 0 ? 100 : 60_000) }
                let outcome = try Self.update(old: old, new: new)
                #expect(outcome.assembled == new, "round \(round)")
                #expect(outcome.plan.copyBytes > UInt64(new.count) / 2, "most of the file is reused")
                #expect(outcome.plan.artifactSize == UInt64(new.count))
            }
        }.value
    }

    @Test("a one-byte edit in an 8 MiB file costs a few KiB of index and one or two chunks of pack")
    func smallEditCost() async throws {
        try await Task.detached {
            let old = DeliveryTestData.random(seed: 77, count: 8 << 20)
            var new = old
            new[4_000_000] ^= 0xFF
            let outcome = try Self.update(old: old, new: new)
            #expect(outcome.assembled == new)
            let (index, _) = DeliveryPacker.build(new, parameters: DeliveryTestData.parameters)
            let indexSize = DeliveryIndexCodec.encode(index).count
            // The first request, then about one group per level.
            #expect(outcome.plan.indexBytes <= DeliveryDescent.initialFetchSize + index.levels.count * 64 * 64)
            #expect(outcome.plan.indexBytes < indexSize / 3, "\(outcome.plan.indexBytes) of \(indexSize)")
            #expect(outcome.plan.packBytes <= 2 * 32_768)
            #expect(outcome.plan.indexRounds <= index.levels.count + 1)
        }.value
    }

    @Test("nothing installed: the whole pack in one range; identical file: one copy, nothing fetched after the first request")
    func firstInstallAndIdentical() throws {
        let new = DeliveryTestData.mixed(seed: 5, count: 700_000)
        let first = try Self.update(old: [], new: new)
        #expect(first.assembled == new)
        let (_, pack) = DeliveryPacker.build(new, parameters: DeliveryTestData.parameters)
        #expect(first.plan.packRanges == [0 ..< UInt64(pack.count)])
        #expect(first.plan.copyBytes == 0)

        let same = try Self.update(old: new, new: new)
        #expect(same.assembled == new)
        #expect(same.plan.items == [.copy(localOffset: 0, length: UInt64(new.count), targetOffset: 0)])
        #expect(same.plan.indexRounds == 0)
        #expect(same.plan.packRanges.isEmpty)

        let empty = try Self.update(old: new, new: [])
        #expect(empty.assembled.isEmpty)
        #expect(empty.plan.items.isEmpty)
    }

    @Test("content moved: a block moved to the end is copied, not downloaded")
    func moved() throws {
        let old = DeliveryTestData.random(seed: 9, count: 1_200_000)
        let new = Array(old[400_000...]) + Array(old[..<400_000])
        let outcome = try Self.update(old: old, new: new)
        #expect(outcome.assembled == new)
        // Three seams (the new start, the junction, the end), each at most two chunks.
        #expect(outcome.plan.packBytes <= 6 * 32_768)
    }

    @Test("the wrong root, index size, pack size or a truncated index are refused precisely")
    func refusedUpFront() throws {
        let old = DeliveryTestData.random(seed: 1, count: 600_000)
        var new = old
        new[300_000] ^= 1
        let (index, pack) = DeliveryPacker.build(new, parameters: DeliveryTestData.parameters)
        let bytes = DeliveryIndexCodec.encode(index)
        let other = DeliveryHash.sha256([1, 2, 3])
        #expect(throws: DeliveryIndexError.rootHashMismatch(expected: other.hex, actual: index.rootHash.hex)) {
            try Self.update(old: old, new: new, root: other)
        }
        #expect(throws: DeliveryIndexError.packSizeMismatch(expected: 5, actual: UInt64(pack.count))) {
            try Self.update(old: old, new: new, packSize: 5)
        }
        // A longer or shorter index than the header announces.
        for tampered in [bytes + [0], Array(bytes.dropLast(64)), Array(bytes.prefix(100))] {
            #expect(throws: DeliveryIndexError.self) { try Self.update(old: old, new: new, indexBytes: tampered) }
        }
    }

    @Test("too many levels in the table: refused before anything else is read")
    func tooManyLevels() throws {
        let new = DeliveryTestData.random(seed: 3, count: 300_000)
        let (index, _) = DeliveryPacker.build(new, parameters: DeliveryTestData.parameters)
        var bytes = DeliveryIndexCodec.encode(index)
        // Claim one more level of one node (a chain of single children).
        let levels = index.levels.count
        var forged = Array(bytes.prefix(128))
        forged.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(levels + 1).littleEndian, toByteOffset: 68, as: UInt32.self) }
        forged += [1, 0, 0, 0]
        forged += bytes[128...]
        forged += [UInt8](repeating: 0, count: 64)
        bytes = forged
        #expect(throws: DeliveryIndexError.self) { try Self.update(old: [], new: new, indexBytes: bytes) }
    }

    @Test("every byte of a small index flipped: refused, or the right file (never a wrong one)")
    func flippedBytes() async throws {
        try await Task.detached {
            let old = DeliveryTestData.mixed(seed: 21, count: 400_000)
            var new = old
            new.replaceSubrange(200_000 ..< 200_010, with: [UInt8](repeating: 7, count: 40))
            let fixture = Fixture(old: old, new: new)
            let pack = fixture.pack
            let bytes = DeliveryIndexCodec.encode(fixture.index)
            var refused = 0, right = 0
            for offset in 0 ..< bytes.count {
                var tampered = bytes
                tampered[offset] ^= 0x5A
                do {
                    let outcome = try Self.update(fixture, indexBytes: tampered, pack: pack)
                    #expect(outcome.assembled == new, "byte \(offset) flipped gave a wrong file")
                    right += 1
                } catch is DeliveryIndexError {
                    refused += 1
                }
            }
            // Records the descent never reads (kept subtrees) and the informational level byte
            // may change freely; everything read is checked.
            #expect(refused > 0 && refused + right == bytes.count)
        }.value
    }

    @Test("a flipped byte in the pack fails that chunk's SHA-256")
    func flippedPack() throws {
        let old = DeliveryTestData.random(seed: 4, count: 300_000)
        let new = DeliveryTestData.compressible(seed: 4, count: 300_000)
        let fixture = Fixture(old: old, new: new)
        let pack = fixture.pack
        var rng = SplitMix64(seed: 8)
        for _ in 0 ..< 20 {
            var tampered = pack
            tampered[Int(rng.next() % UInt64(pack.count))] ^= 0x10
            #expect(throws: DeliveryIndexError.self) { try Self.update(fixture, pack: tampered) }
        }
    }

    @Test("pack offsets are not hashed: past the pack, or leaves not adjacent in the pack, are refused")
    func packOffsets() throws {
        let old = DeliveryTestData.random(seed: 12, count: 500_000)
        var new = old
        new.replaceSubrange(250_000 ..< 250_010, with: [1, 2, 3])
        let fixture = Fixture(old: old, new: new)
        var beyond = fixture.index
        for i in beyond.leaves.indices { beyond.leaves[i].packOffset += beyond.packSize }
        #expect {
            try Self.update(fixture, indexBytes: DeliveryIndexCodec.encode(beyond))
        } throws: { error in
            guard case .invalidLeaf(_, let detail) = error as? DeliveryIndexError else { return false }
            return detail.contains("beyond the pack")
        }
        // Two neighbours swapped in the pack (each still inside it): not adjacent any more.
        var swapped = fixture.index
        let have = Set(fixture.local.map(\.hash))
        let changed = try #require(swapped.leaves.firstIndex { !have.contains($0.hash) })
        let n = min(changed, swapped.leaves.count - 2)
        (swapped.leaves[n].packOffset, swapped.leaves[n + 1].packOffset) = (swapped.leaves[n + 1].packOffset, swapped.leaves[n].packOffset)
        #expect(throws: DeliveryIndexError.self) { try Self.update(fixture, indexBytes: DeliveryIndexCodec.encode(swapped)) }
    }
}
