/// The content-defined Merkle tree over a sequence of chunks: how children are grouped into
/// nodes and how a node's hash is computed. The builder, the verifier and (later) a client
/// building the same tree over its installed file all use these two functions.
public enum DeliveryTree {
    /// What the tree needs to know of a child: its hash and the artifact bytes under it.
    public struct Child: Sendable, Equatable {
        public var hash: DeliveryHash
        public var rawSize: UInt64
        public init(hash: DeliveryHash, rawSize: UInt64) {
            self.hash = hash
            self.rawSize = rawSize
        }
    }

    /// The domain byte that starts every node's serialisation (a chunk's hash is over raw bytes
    /// alone, so no node serialisation can be mistaken for a chunk hashed the same way by
    /// construction of the levels, and vice versa).
    public static let nodeDomain: UInt8 = 0x01

    /// SHA-256 of `0x01 ‖ parameter block[24] ‖ u32le(count) ‖ for each child: hash[32] ‖
    /// u64le(rawSize)`; `parameterBlock` is ``DeliveryParameters/parameterBlock``.
    public static func nodeHash(children: ArraySlice<Child>, parameterBlock: [UInt8]) -> DeliveryHash {
        precondition(parameterBlock.count == 24, "DeliveryTree: the parameter block has 24 bytes")
        let length = 29 + children.count * 40
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { out in
            out[0] = nodeDomain
            for (i, b) in parameterBlock.enumerated() { out[1 + i] = b }
            out.storeBytes(of: UInt32(children.count).littleEndian, toByteOffset: 25, as: UInt32.self)
            var p = 29
            for child in children {
                child.hash.append(into: out, at: p)
                out.storeBytes(of: child.rawSize.littleEndian, toByteOffset: p + 32, as: UInt64.self)
                p += 40
            }
        }
        return DeliveryHash.sha256(bytes)
    }

    /// The sizes of the groups `children` falls into, in order (see ``TreeParameters``).
    public static func groupSizes(_ children: ArraySlice<Child>, parameters: TreeParameters) -> [Int] {
        var sizes: [Int] = []
        var count = 0
        let mask = parameters.mask
        for (i, child) in zip(children.indices, children) {
            count += 1
            let closes = count == parameters.maxFanout
                || (count >= parameters.minFanout && child.hash.boundaryBits & mask == mask)
                || i == children.index(before: children.endIndex)
            if closes {
                sizes.append(count)
                count = 0
            }
        }
        return sizes
    }

    /// The inner levels above `leaves`, top first: levels are built until one holds a single
    /// node; there is always at least one (an empty artifact has a root with no children).
    public static func build(leaves: [DeliveryLeaf], parameters all: DeliveryParameters) -> [[DeliveryNode]] {
        let parameters = all.tree
        let block = all.parameterBlock
        precondition(parameters.isValid, "DeliveryTree: invalid tree parameters")
        if leaves.isEmpty {
            let root = DeliveryNode(hash: nodeHash(children: [], parameterBlock: block), artifactOffset: 0, rawSize: 0,
                                    firstChild: 0, childCount: 0, firstLeaf: 0, leafCount: 0)
            return [[root]]
        }
        // The level below, as children plus the spans the parents inherit.
        var children = leaves.map { Child(hash: $0.hash, rawSize: UInt64($0.rawSize)) }
        var offsets = leaves.map(\.artifactOffset)
        var leafStarts = (0..<leaves.count).map { UInt32($0) }
        var leafCounts = [UInt32](repeating: 1, count: leaves.count)
        var levels: [[DeliveryNode]] = []
        repeat {
            var level: [DeliveryNode] = []
            var start = 0
            for size in groupSizes(children[...], parameters: parameters) {
                let group = children[start ..< start + size]
                var leafCount: UInt32 = 0
                var rawSize: UInt64 = 0
                for i in group.indices {
                    leafCount += leafCounts[i]
                    rawSize += group[i].rawSize
                }
                level.append(DeliveryNode(hash: nodeHash(children: group, parameterBlock: block), artifactOffset: offsets[start],
                                          rawSize: rawSize, firstChild: UInt32(start), childCount: UInt32(size),
                                          firstLeaf: leafStarts[start], leafCount: leafCount))
                start += size
            }
            levels.append(level)
            children = level.map { Child(hash: $0.hash, rawSize: $0.rawSize) }
            offsets = level.map(\.artifactOffset)
            leafStarts = level.map(\.firstLeaf)
            leafCounts = level.map(\.leafCount)
        } while children.count > 1
        return levels.reversed()
    }
}
