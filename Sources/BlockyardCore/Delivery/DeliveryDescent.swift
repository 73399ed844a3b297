/// The client's walk down a delivery index it fetches piece by piece (docs/HTTP-CLIENT.md,
/// "The delivery path"). Pure: it is handed index bytes and answers with the byte ranges it
/// needs next, and finally with a ``DeliveryPlan``.
///
///     var descent = DeliveryDescent(expectedRoot: root, indexSize: n, packSize: m, local: chunks)
///     descent.receive(firstBytes, at: 0)          // DeliveryDescent.initialRange(indexSize: n)
///     while case .fetch(let ranges) = try descent.next() { …receive each range… }
///
/// **Trust.** Only `expectedRoot` (from the signed channel file) is trusted. The header must
/// name it and the sizes the channel file gives; the root record must carry it. Then, level by
/// level, the records of a node's children are fetched and their serialisation hashed
/// (``DeliveryTree/nodeHash(children:parameterBlock:)``) against the node's verified hash;
/// they must form one group under the tree rule, tile the node's span of the artifact and its
/// leaves, and fit the level table. So every record the plan uses is bound to the root, and
/// every position in the plan follows from verified sizes. Pack offsets are not hashed: they
/// are checked to lie in the pack and to be contiguous between neighbouring leaves, and every
/// chunk decoded from the pack is checked against its leaf's SHA-256 (``ChunkPacker/unpack``).
///
/// **Descent.** A child whose hash the installed file's tree has (``DeliveryLocalTree``) is
/// copied whole from the installed file and not opened; the others are opened in the next
/// round, one range of records per node, adjacent ranges merged. At the leaves a chunk the
/// installed file holds anywhere is copied; the rest is read from the pack.
public struct DeliveryDescent: Sendable {
    public enum Step: Sendable, Equatable {
        /// Fetch these byte ranges of the index (sorted, disjoint), ``receive(_:at:)`` them,
        /// and call ``next()`` again.
        case fetch([Range<Int>])
        case done(DeliveryPlan)
    }

    /// Bytes of the first request: header, level table and the top levels (a 200 MB artifact's
    /// first three levels take about 3 KiB; a 2 GiB one's first two about 2 KiB).
    public static let initialFetchSize = 8 << 10

    /// The first range to fetch.
    public static func initialRange(indexSize: Int) -> Range<Int> { 0 ..< min(max(0, indexSize), initialFetchSize) }

    /// A parent whose children's records are needed: its verified hash and span.
    private struct Parent {
        var level: Int
        var index: Int
        var hash: DeliveryHash
        var offset: UInt64
        var size: UInt64
        var firstChild: Int
        var childCount: Int
        var firstLeaf: Int
        var leafCount: Int
    }

    public let expectedRoot: DeliveryHash
    public let indexSize: Int
    public let packSize: UInt64?
    private var localChunks: [DeliveryLocalChunk]
    private var local: DeliveryLocalTree?
    public private(set) var header: DeliveryIndexCodec.Header?
    private var parameterBlock: [UInt8] = []

    /// Fetched index bytes, sorted by start.
    private var pieces: [(start: Int, bytes: [UInt8])] = []
    /// Ranges asked for; asking again for bytes that did not come is an error.
    private var requested: [Range<Int>] = []
    private var indexBytes = 0
    private var rounds = 0

    /// The level whose records the frontier needs (`levelCounts.count` = the leaves).
    private var level = 1
    private var frontier: [Parent] = []
    private var items: [DeliveryPlan.Item] = []
    /// Every leaf read (copied or not): index and pack range, to check pack contiguity.
    private var leavesSeen: [(index: Int, pack: Range<UInt64>)] = []
    private var finished = false

    /// - Parameters:
    ///   - expectedRoot: the root hash from the channel file.
    ///   - indexSize: the index's size from the channel file.
    ///   - packSize: the pack's size from the channel file, if given.
    ///   - local: the installed file's chunks, cut with the parameters the index header names
    ///     (``DeliveryParameters`` default, unless a publisher chose others; check ``header``
    ///     after the first ``next()`` if in doubt).
    public init(expectedRoot: DeliveryHash, indexSize: Int, packSize: UInt64?, local: [DeliveryLocalChunk]) {
        self.expectedRoot = expectedRoot
        self.indexSize = indexSize
        self.packSize = packSize
        localChunks = local
    }

    /// The header at the start of `prefix` (at least the header and level table), checked
    /// alone: a caller reads the chunker parameters from it before cutting its file.
    public static func header(_ prefix: [UInt8]) throws(DeliveryIndexError) -> DeliveryIndexCodec.Header {
        let result = prefix.withUnsafeBytes { b in
            Result { () throws(DeliveryIndexError) in try DeliveryIndexCodec.decodeHeader(b) }
        }
        return try result.get()
    }

    /// Index bytes fetched at `offset` (bytes beyond the index's size are ignored).
    public mutating func receive(_ bytes: [UInt8], at offset: Int) {
        guard offset >= 0, offset < indexSize, !bytes.isEmpty else { return }
        let kept = offset + bytes.count > indexSize ? Array(bytes.prefix(indexSize - offset)) : bytes
        let at = pieces.firstIndex { $0.start > offset } ?? pieces.count
        pieces.insert((offset, kept), at: at)
    }

    /// Continues the descent as far as the bytes at hand allow.
    public mutating func next() throws(DeliveryIndexError) -> Step {
        precondition(!finished, "DeliveryDescent.next called after it finished")
        if header == nil {
            let first = Self.initialRange(indexSize: indexSize)
            guard let prefix = bytes(first) else { return try ask([first]) }
            try start(Array(prefix))
        }
        guard let header else { preconditionFailure() }
        while level <= header.levelCounts.count && !frontier.isEmpty {
            let ranges = try childRanges(header)
            let missing = ranges.filter { bytes($0) == nil }
            if !missing.isEmpty { return try ask(Self.merge(missing)) }
            if level == header.levelCounts.count {
                try openLeaves(header)
            } else {
                try openNodes(header)
            }
            level += 1
        }
        finished = true
        return .done(try finish(header))
    }

    // MARK: - Steps

    private mutating func start(_ prefix: [UInt8]) throws(DeliveryIndexError) {
        let h = try Self.header(prefix)
        guard h.indexSize == indexSize else {
            throw .invalidHeader(field: "index size", detail: "the header's counts make \(h.indexSize) bytes, the channel file says \(indexSize)")
        }
        guard h.rootHash == expectedRoot else { throw .rootHashMismatch(expected: expectedRoot.hex, actual: h.rootHash.hex) }
        if let packSize, packSize != h.packSize { throw .packSizeMismatch(expected: packSize, actual: h.packSize) }
        // The level table of a canonical tree: levels below the root hold at least two nodes
        // (the build stops at the first level of one), each at most half the one below,
        // rounded up (groups hold at least minFanout ≥ 2 entries but the last), and at least
        // the level below over the maximum fan-out.
        let counts = h.levelCounts
        for k in 0 ..< counts.count {
            let below = k + 1 < counts.count ? counts[k + 1] : h.leafCount
            let most = below == 0 ? 1 : (below + 1) / 2
            let least = (below + h.parameters.tree.maxFanout - 1) / h.parameters.tree.maxFanout
            guard (k == 0 || counts[k] >= 2), counts[k] <= max(1, most), counts[k] >= max(1, least) else {
                throw .invalidHeader(field: "level table", detail: "level \(k) has \(counts[k]) nodes over \(below): not a tree the format builds")
            }
        }
        header = h
        parameterBlock = h.parameters.parameterBlock
        let tree = DeliveryLocalTree(chunks: localChunks, parameters: h.parameters)
        localChunks = []
        local = tree

        // The root record: it must carry the trusted hash and span everything.
        let rootAt = DeliveryIndexCodec.recordOffset(levelCounts: counts, level: 0, index: 0)
        guard let record = bytes(rootAt ..< rootAt + DeliveryIndexCodec.nodeRecordSize) else {
            throw .truncated(expected: rootAt + DeliveryIndexCodec.nodeRecordSize, actual: prefix.count)
        }
        let root = Self.node(record)
        guard root.hash == expectedRoot else { throw .rootHashMismatch(expected: expectedRoot.hex, actual: root.hash.hex) }
        let below = counts.count > 1 ? counts[1] : h.leafCount
        guard root.artifactOffset == 0, root.rawSize == h.artifactSize, root.firstChild == 0, Int(root.childCount) == below,
              root.firstLeaf == 0, Int(root.leafCount) == h.leafCount else {
            throw .invalidNode(level: 0, index: 0, detail: "the root must span the whole artifact, level 1 and every leaf")
        }
        if h.leafCount == 0 { return }
        if let span = tree.node(root.hash), span.size == root.rawSize {
            items.append(.copy(localOffset: span.offset, length: root.rawSize, targetOffset: 0))
            return
        }
        frontier = [Parent(level: 0, index: 0, hash: root.hash, offset: 0, size: root.rawSize, firstChild: 0,
                           childCount: Int(root.childCount), firstLeaf: 0, leafCount: Int(root.leafCount))]
    }

    /// The records of the frontier's children, one range per parent, bounds checked.
    private func childRanges(_ h: DeliveryIndexCodec.Header) throws(DeliveryIndexError) -> [Range<Int>] {
        let isLeaves = level == h.levelCounts.count
        let count = isLeaves ? h.leafCount : h.levelCounts[level]
        let size = isLeaves ? DeliveryIndexCodec.leafRecordSize : DeliveryIndexCodec.nodeRecordSize
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(frontier.count)
        for p in frontier {
            guard p.childCount >= 1, p.childCount <= h.parameters.tree.maxFanout else {
                throw .invalidNode(level: p.level, index: p.index, detail: "\(p.childCount) children (1 … \(h.parameters.tree.maxFanout))")
            }
            guard p.firstChild >= 0, p.firstChild + p.childCount <= count else {
                throw .invalidNode(level: p.level, index: p.index,
                                   detail: "children \(p.firstChild) ..< \(p.firstChild + p.childCount) beyond the \(count) of the level below")
            }
            if isLeaves && (p.firstChild != p.firstLeaf || p.childCount != p.leafCount) {
                throw .invalidNode(level: p.level, index: p.index, detail: "its children are not its leaves")
            }
            let start = DeliveryIndexCodec.recordOffset(levelCounts: h.levelCounts, level: level, index: p.firstChild)
            ranges.append(start ..< start + size * p.childCount)
        }
        return ranges
    }

    private mutating func openNodes(_ h: DeliveryIndexCodec.Header) throws(DeliveryIndexError) {
        var next: [Parent] = []
        for p in frontier {
            let start = DeliveryIndexCodec.recordOffset(levelCounts: h.levelCounts, level: level, index: p.firstChild)
            var children: [DeliveryNode] = []
            for i in 0 ..< p.childCount {
                let at = start + i * DeliveryIndexCodec.nodeRecordSize
                children.append(Self.node(bytes(at ..< at + DeliveryIndexCodec.nodeRecordSize)!))
            }
            try check(p, children.map { DeliveryTree.Child(hash: $0.hash, rawSize: $0.rawSize) }, h)
            var offset = p.offset
            var leaf = p.firstLeaf
            for (i, child) in children.enumerated() {
                let index = p.firstChild + i
                guard child.artifactOffset == offset, Int(child.firstLeaf) == leaf, child.leafCount >= 1 else {
                    throw .invalidNode(level: level, index: index,
                                       detail: "span \(child.artifactOffset) / leaves \(child.firstLeaf) +\(child.leafCount), expected \(offset) / \(leaf) +1 or more")
                }
                if let span = local!.node(child.hash), span.size == child.rawSize {
                    items.append(.copy(localOffset: span.offset, length: child.rawSize, targetOffset: offset))
                } else {
                    next.append(Parent(level: level, index: index, hash: child.hash, offset: offset, size: child.rawSize,
                                       firstChild: Int(child.firstChild), childCount: Int(child.childCount),
                                       firstLeaf: Int(child.firstLeaf), leafCount: Int(child.leafCount)))
                }
                offset += child.rawSize
                leaf += Int(child.leafCount)
            }
            guard leaf == p.firstLeaf + p.leafCount else {
                throw .invalidNode(level: p.level, index: p.index, detail: "its children hold \(leaf - p.firstLeaf) leaves, it records \(p.leafCount)")
            }
        }
        frontier = next
    }

    private mutating func openLeaves(_ h: DeliveryIndexCodec.Header) throws(DeliveryIndexError) {
        let maxSize = h.parameters.chunker.maxSize
        for p in frontier {
            let start = DeliveryIndexCodec.recordOffset(levelCounts: h.levelCounts, level: level, index: p.firstChild)
            var leaves: [DeliveryLeaf] = []
            for i in 0 ..< p.childCount {
                let at = start + i * DeliveryIndexCodec.leafRecordSize
                let index = p.firstChild + i
                let record = bytes(at ..< at + DeliveryIndexCodec.leafRecordSize)!
                let (leaf, flags, reserved) = Self.leaf(record)
                func fail(_ detail: String) -> DeliveryIndexError { .invalidLeaf(index: index, detail: detail) }
                guard flags & ~DeliveryIndexCodec.leafStoredRaw == 0 else { throw fail("unknown flags \(String(flags, radix: 16))") }
                guard reserved == 0 else { throw fail("reserved field is not 0") }
                guard leaf.rawSize >= 1 && Int(leaf.rawSize) <= maxSize else { throw fail("raw size \(leaf.rawSize) outside 1 … \(maxSize)") }
                if leaf.isStoredRaw {
                    guard leaf.storedSize == leaf.rawSize else { throw fail("stored raw with stored size \(leaf.storedSize) ≠ raw size \(leaf.rawSize)") }
                } else {
                    guard leaf.storedSize >= 1 && leaf.storedSize < leaf.rawSize else {
                        throw fail("compressed size \(leaf.storedSize) not in 1 … \(leaf.rawSize - 1)")
                    }
                }
                let (end, overflow) = leaf.packOffset.addingReportingOverflow(UInt64(leaf.storedSize))
                guard !overflow, end <= h.packSize else { throw fail("stored form \(leaf.packOffset) +\(leaf.storedSize) beyond the pack's \(h.packSize) bytes") }
                leaves.append(leaf)
            }
            try check(p, leaves.map { DeliveryTree.Child(hash: $0.hash, rawSize: UInt64($0.rawSize)) }, h)
            var offset = p.offset
            for (i, var leaf) in leaves.enumerated() {
                let index = p.firstChild + i
                guard leaf.artifactOffset == offset else {
                    throw .invalidLeaf(index: index, detail: "artifact offset \(leaf.artifactOffset), expected \(offset)")
                }
                leaf.artifactOffset = offset
                leavesSeen.append((index, leaf.packRange))
                if let span = local!.chunk(leaf.hash), span.size == UInt64(leaf.rawSize) {
                    items.append(.copy(localOffset: span.offset, length: UInt64(leaf.rawSize), targetOffset: offset))
                } else {
                    items.append(.unpack(index: index, leaf: leaf))
                }
                offset += UInt64(leaf.rawSize)
            }
        }
        frontier = []
    }

    /// Children fetched for `p`: their serialisation hashes to `p`'s hash, they form exactly
    /// one group under the tree rule, and their sizes add up to `p`'s span.
    private func check(_ p: Parent, _ children: [DeliveryTree.Child], _ h: DeliveryIndexCodec.Header) throws(DeliveryIndexError) {
        guard DeliveryTree.nodeHash(children: children[...], parameterBlock: parameterBlock) == p.hash else {
            throw .nodeHashMismatch(level: p.level, index: p.index)
        }
        guard DeliveryTree.groupSizes(children[...], parameters: h.parameters.tree) == [children.count] else {
            throw .nonCanonicalTree(level: p.level, index: p.index)
        }
        var total: UInt64 = 0
        for child in children {
            let (sum, overflow) = total.addingReportingOverflow(child.rawSize)
            guard !overflow else { throw .invalidNode(level: p.level, index: p.index, detail: "its children's sizes overflow") }
            total = sum
        }
        guard total == p.size else {
            throw .invalidNode(level: p.level, index: p.index, detail: "raw size \(p.size), its children hold \(total)")
        }
    }

    private mutating func finish(_ h: DeliveryIndexCodec.Header) throws(DeliveryIndexError) -> DeliveryPlan {
        // Neighbouring leaves must be neighbours in the pack too.
        leavesSeen.sort { $0.index < $1.index }
        for (a, b) in zip(leavesSeen, leavesSeen.dropFirst()) where b.index == a.index + 1 && b.pack.lowerBound != a.pack.upperBound {
            throw .invalidLeaf(index: b.index, detail: "pack offset \(b.pack.lowerBound), expected \(a.pack.upperBound)")
        }
        items.sort { $0.targetOffset < $1.targetOffset }
        // Adjacent copies of adjacent local bytes become one.
        var merged: [DeliveryPlan.Item] = []
        merged.reserveCapacity(items.count)
        var position: UInt64 = 0
        for item in items {
            guard item.targetOffset == position else {
                throw .invalidNode(level: 0, index: 0, detail: "the verified spans do not tile the artifact at byte \(position)")
            }
            position += item.length
            if case .copy(let local, let length, _) = item, let last = merged.last,
               case .copy(let lastLocal, let lastLength, let lastTarget) = last, lastLocal + lastLength == local {
                merged[merged.count - 1] = .copy(localOffset: lastLocal, length: lastLength + length, targetOffset: lastTarget)
            } else {
                merged.append(item)
            }
        }
        guard position == h.artifactSize else {
            throw .invalidNode(level: 0, index: 0, detail: "the verified spans cover \(position) of \(h.artifactSize) bytes")
        }
        let leaves = merged.compactMap { item -> DeliveryLeaf? in
            if case .unpack(_, let leaf) = item { return leaf } else { return nil }
        }
        return DeliveryPlan(items: merged, artifactSize: h.artifactSize, packRanges: DeliveryPlan.packRanges(leaves),
                            indexBytes: indexBytes, indexRounds: rounds)
    }

    // MARK: - Bytes

    private mutating func ask(_ ranges: [Range<Int>]) throws(DeliveryIndexError) -> Step {
        for r in ranges where requested.contains(where: { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }) {
            // Asked for before and still missing: the index is shorter than it says.
            throw .truncated(expected: r.upperBound, actual: pieces.last.map { $0.start + $0.bytes.count } ?? 0)
        }
        requested += ranges
        indexBytes += ranges.reduce(0) { $0 + $1.count }
        rounds += 1
        return .fetch(ranges)
    }

    /// The bytes of `r` if one fetched piece holds them all.
    private func bytes(_ r: Range<Int>) -> ArraySlice<UInt8>? {
        var lo = 0, hi = pieces.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pieces[mid].start <= r.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        // Usually the last piece starting at or before the range holds it; pieces may overlap.
        var i = lo - 1
        while i >= 0 {
            let piece = pieces[i]
            if piece.start + piece.bytes.count >= r.upperBound {
                let from = r.lowerBound - piece.start
                return piece.bytes[from ..< from + r.count]
            }
            i -= 1
        }
        return nil
    }

    static func merge(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, last.upperBound >= r.lowerBound {
                out[out.count - 1] = last.lowerBound ..< max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    private static func node(_ record: ArraySlice<UInt8>) -> DeliveryNode {
        record.withUnsafeBytes { b in
            DeliveryNode(hash: DeliveryHash(bytes: b, at: 0), artifactOffset: DeliveryIndexCodec.get64(b, 32),
                         rawSize: DeliveryIndexCodec.get64(b, 40), firstChild: DeliveryIndexCodec.get32(b, 48),
                         childCount: DeliveryIndexCodec.get32(b, 52), firstLeaf: DeliveryIndexCodec.get32(b, 56),
                         leafCount: DeliveryIndexCodec.get32(b, 60))
        }
    }

    private static func leaf(_ record: ArraySlice<UInt8>) -> (DeliveryLeaf, flags: UInt32, reserved: UInt32) {
        record.withUnsafeBytes { b in
            let flags = DeliveryIndexCodec.get32(b, 56)
            let leaf = DeliveryLeaf(hash: DeliveryHash(bytes: b, at: 0), artifactOffset: DeliveryIndexCodec.get64(b, 32),
                                    packOffset: DeliveryIndexCodec.get64(b, 40), rawSize: DeliveryIndexCodec.get32(b, 48),
                                    storedSize: DeliveryIndexCodec.get32(b, 52),
                                    isStoredRaw: flags & DeliveryIndexCodec.leafStoredRaw != 0)
            return (leaf, flags, DeliveryIndexCodec.get32(b, 60))
        }
    }
}
