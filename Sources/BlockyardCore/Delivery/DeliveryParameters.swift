/// The rule that groups a level's entries under the parents of the next level up: a child
/// closes its group when the group holds `maxFanout` children, or when it holds at least
/// `minFanout` and the child's hash has the `mask` bits of ``DeliveryHash/boundaryBits`` all
/// set. The last child of a level always closes its group. Boundaries depend only on the
/// hashes, so an edit changes the groups around it and no others (docs/FORMAT.md).
public struct TreeParameters: Sendable, Equatable {
    public var minFanout: Int
    public var maxFanout: Int
    public var mask: UInt32

    public init(minFanout: Int, maxFanout: Int, mask: UInt32) {
        self.minFanout = minFanout
        self.maxFanout = maxFanout
        self.mask = mask
    }

    /// Whether these bounds are acceptable: at least two children per group (so every level
    /// is at most half the one below and the tree ends in one root), at most 65535.
    public var isValid: Bool { minFanout >= 2 && maxFanout >= minFanout && maxFanout <= 0xFFFF }

    /// Format version 1's default: 2 … 64 children, boundary when 4 bits are set (average
    /// fan-out about 17).
    public static let standard = TreeParameters(minFanout: 2, maxFanout: 64, mask: 0x0F)
}

/// Everything that determines an index besides the artifact's bytes: the chunker's parameters,
/// the tree's grouping rule and the zstd level of the pack.
public struct DeliveryParameters: Sendable, Equatable {
    public var chunker: ChunkerParameters
    public var tree: TreeParameters
    /// The zstd level the pack's chunks are compressed at (recorded, informational: readers
    /// decode any level).
    public var compressionLevel: Int32

    public init(chunker: ChunkerParameters = .electronBuilder, tree: TreeParameters = .standard,
                compressionLevel: Int32 = DeliveryParameters.defaultCompressionLevel) {
        self.chunker = chunker
        self.tree = tree
        self.compressionLevel = compressionLevel
    }

    /// The default zstd level: the fastest standard level (docs/FORMAT.md, "Choosing the level":
    /// level 3 costs 1.4× the CPU for ~3 % smaller packs on 8–32 KiB chunks).
    public static let defaultCompressionLevel: Int32 = 1

    /// The 24-byte parameter block: header bytes 24 ..< 48 and the prefix of every node's
    /// serialisation, so every node hash (and the root) commits to how the chunks were cut and
    /// grouped. `u32 chunk min ‖ u32 chunk max ‖ u64 chunk mask ‖ u16 min fan-out ‖
    /// u16 max fan-out ‖ u32 fan-out mask`, little-endian.
    public var parameterBlock: [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        put(UInt32(chunker.minSize))
        put(UInt32(chunker.maxSize))
        put(chunker.mask)
        put(UInt16(tree.minFanout))
        put(UInt16(tree.maxFanout))
        put(tree.mask)
        return out
    }

    /// The zstd levels accepted: libzstd's fast negative levels through 19 (20–22 need a large
    /// window mode that buys nothing on 8–32 KiB chunks).
    public static let compressionLevels: ClosedRange<Int32> = -7...19
}
