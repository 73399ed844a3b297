/// Parameters of the content-defined chunker.
///
/// Only ``electronBuilder`` produces blockmaps that electron-builder and electron-updater
/// agree with; the others exist for experiments and tests.
public struct ChunkerParameters: Sendable, Equatable {
    /// Smallest non-final chunk. Candidate ends are tested from here on.
    public var minSize: Int
    /// Largest chunk: a cut is forced here.
    public var maxSize: Int
    /// A boundary is where `fingerprint & mask == mask` (the low bits all ones).
    public var mask: UInt64

    /// Bytes in the rolling window; fixed by the tables (64).
    public static let window = 64

    public init(minSize: Int, maxSize: Int, mask: UInt64) {
        precondition(minSize >= Self.window, "minSize must be at least the 64-byte window")
        precondition(maxSize > minSize, "maxSize must exceed minSize")
        self.minSize = minSize
        self.maxSize = maxSize
        self.mask = mask
    }

    /// app-builder's `DefaultChunkerConfiguration`: min 8 KiB, average 16 KiB (mask 0x3FFF),
    /// max 32 KiB, window 64.
    public static let electronBuilder = ChunkerParameters(minSize: 8192, maxSize: 32768, mask: 0x3FFF)
}
