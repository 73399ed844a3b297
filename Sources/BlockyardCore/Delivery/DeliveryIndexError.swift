/// Why an index (or a pack checked against it) was refused. Every malformed, truncated or
/// hostile input ends in one of these, never in a crash or an allocation larger than the input.
public enum DeliveryIndexError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data ends before the header, the level table or the records it announces.
    case truncated(expected: Int, actual: Int)
    /// Bytes follow the last leaf record.
    case trailingData(count: Int)
    /// The first 8 bytes are not the index magic.
    case notAnIndex
    /// A format version this reader does not know.
    case unsupportedVersion(Int)
    /// A header field holds a value the format forbids.
    case invalidHeader(field: String, detail: String)
    /// An inner node contradicts the format; `level` counts from the top (0 = the root's).
    case invalidNode(level: Int, index: Int, detail: String)
    /// A leaf record contradicts the format.
    case invalidLeaf(index: Int, detail: String)
    /// A node's hash is not the hash of its children.
    case nodeHashMismatch(level: Int, index: Int)
    /// The nodes do not group their children by the tree rule of the header's parameters.
    case nonCanonicalTree(level: Int, index: Int)
    /// The root hash is not the one expected (from the channel file).
    case rootHashMismatch(expected: String, actual: String)
    /// The pack's size is not the one the index records.
    case packSizeMismatch(expected: UInt64, actual: UInt64)
    /// Fewer bytes of a chunk's stored form arrived than the leaf records.
    case packTruncated(leaf: Int, expected: Int, actual: Int)
    /// A chunk's zstd frame does not decode to the chunk's size.
    case chunkUndecodable(leaf: Int, reason: ZstdError)
    /// A chunk's bytes do not have the leaf's hash.
    case chunkHashMismatch(leaf: Int)

    /// Every case is invalid data (exit 65).
    public var failureKind: FailureKind { .invalidData }

    public var description: String {
        switch self {
        case .truncated(let expected, let actual):
            return "truncated index: \(actual) bytes, the header and counts require \(expected)"
        case .trailingData(let count):
            return "\(count) bytes of unexpected data after the last leaf record"
        case .notAnIndex:
            return "not a Blockyard delivery index (bad magic)"
        case .unsupportedVersion(let version):
            return "unsupported index format version \(version) (this reader knows version \(DeliveryIndexCodec.version))"
        case .invalidHeader(let field, let detail):
            return "invalid index header: \(field): \(detail)"
        case .invalidNode(let level, let index, let detail):
            return "invalid node \(index) of level \(level): \(detail)"
        case .invalidLeaf(let index, let detail):
            return "invalid leaf \(index): \(detail)"
        case .nodeHashMismatch(let level, let index):
            return "node \(index) of level \(level): hash does not match its children"
        case .nonCanonicalTree(let level, let index):
            return "node \(index) of level \(level): children not grouped by the tree rule"
        case .rootHashMismatch(let expected, let actual):
            return "root hash \(actual), expected \(expected)"
        case .packSizeMismatch(let expected, let actual):
            return "pack is \(actual) bytes, the index records \(expected)"
        case .packTruncated(let leaf, let expected, let actual):
            return "chunk \(leaf): \(actual) bytes of its stored form, expected \(expected)"
        case .chunkUndecodable(let leaf, let reason):
            return "chunk \(leaf): \(reason)"
        case .chunkHashMismatch(let leaf):
            return "chunk \(leaf): SHA-256 does not match the index"
        }
    }
}
