/// A leaf of the delivery index: one chunk of the artifact and where its stored form lies in
/// the pack.
public struct DeliveryLeaf: Hashable, Sendable {
    /// SHA-256 of the chunk's raw bytes.
    public var hash: DeliveryHash
    /// Offset of the chunk in the artifact.
    public var artifactOffset: UInt64
    /// Offset of the chunk's stored form in the pack.
    public var packOffset: UInt64
    /// The chunk's length in the artifact (1 … the chunker's maximum).
    public var rawSize: UInt32
    /// Length of the stored form in the pack: a zstd frame, or the raw bytes when
    /// ``isStoredRaw`` (then equal to ``rawSize``).
    public var storedSize: UInt32
    /// The pack holds the chunk uncompressed (its zstd frame would not have been smaller).
    public var isStoredRaw: Bool

    public init(hash: DeliveryHash, artifactOffset: UInt64, packOffset: UInt64, rawSize: UInt32,
                storedSize: UInt32, isStoredRaw: Bool) {
        self.hash = hash
        self.artifactOffset = artifactOffset
        self.packOffset = packOffset
        self.rawSize = rawSize
        self.storedSize = storedSize
        self.isStoredRaw = isStoredRaw
    }

    /// The chunk's bytes in the artifact.
    public var artifactRange: Range<UInt64> { artifactOffset ..< artifactOffset + UInt64(rawSize) }
    /// The stored form's bytes in the pack.
    public var packRange: Range<UInt64> { packOffset ..< packOffset + UInt64(storedSize) }
}

/// An inner node of the delivery index: a content-defined group of consecutive children of
/// the level below (nodes, or leaves for the lowest inner level).
public struct DeliveryNode: Hashable, Sendable {
    /// SHA-256 over the children's serialisation (``DeliveryTree/nodeHash(children:parameterBlock:)``).
    public var hash: DeliveryHash
    /// Offset in the artifact of the first byte under this node.
    public var artifactOffset: UInt64
    /// Bytes of the artifact under this node.
    public var rawSize: UInt64
    /// Index of the first child in the level below.
    public var firstChild: UInt32
    /// Number of children (consecutive in the level below).
    public var childCount: UInt32
    /// Index of the first leaf under this node.
    public var firstLeaf: UInt32
    /// Number of leaves under this node (consecutive).
    public var leafCount: UInt32

    public init(hash: DeliveryHash, artifactOffset: UInt64, rawSize: UInt64, firstChild: UInt32,
                childCount: UInt32, firstLeaf: UInt32, leafCount: UInt32) {
        self.hash = hash
        self.artifactOffset = artifactOffset
        self.rawSize = rawSize
        self.firstChild = firstChild
        self.childCount = childCount
        self.firstLeaf = firstLeaf
        self.leafCount = leafCount
    }
}

/// A decoded (or freshly built) delivery index: the parameters it was built with, the inner
/// levels top-down (`levels[0]` holds only the root) and the leaves.
public struct DeliveryIndex: Equatable, Sendable {
    public var parameters: DeliveryParameters
    /// Size of the artifact in bytes (the sum of the leaves' raw sizes).
    public var artifactSize: UInt64
    /// Size of the pack in bytes (the sum of the leaves' stored sizes).
    public var packSize: UInt64
    /// Inner levels, top first; the first holds exactly the root, the last one's children are
    /// the leaves.
    public var levels: [[DeliveryNode]]
    /// The chunks in artifact order.
    public var leaves: [DeliveryLeaf]

    public init(parameters: DeliveryParameters, artifactSize: UInt64, packSize: UInt64,
                levels: [[DeliveryNode]], leaves: [DeliveryLeaf]) {
        self.parameters = parameters
        self.artifactSize = artifactSize
        self.packSize = packSize
        self.levels = levels
        self.leaves = leaves
    }

    /// The root node.
    public var root: DeliveryNode { levels[0][0] }

    /// The root hash: it identifies the artifact's content under these parameters.
    public var rootHash: DeliveryHash { root.hash }

    /// Leaves stored uncompressed.
    public var storedRawCount: Int { leaves.reduce(0) { $0 + ($1.isStoredRaw ? 1 : 0) } }
}
