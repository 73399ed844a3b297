import BlockyardCore

/// The key of a chunk in the store: SHA-256 of the chunk's bytes (32 bytes).
///
/// Why not the blockmap's BLAKE2b-18: see docs/STORE.md, "Chunk keys". In short, 144 bits
/// give only 72 bits of collision resistance, a collision in a content-addressed store
/// silently substitutes one chunk for another in every version that holds it, and SHA-256 is
/// the cheaper hash here (SHA-NI). The BLAKE2b-18 checksum is kept beside the key for
/// blockmaps.
public struct ChunkKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 32

    // The 32 bytes in memory order (loaded without byte swapping).
    let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Reads 32 bytes.
    public init(bytes pointer: UnsafeRawPointer) {
        w0 = pointer.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// The key of a 32-byte digest; nil for any other length.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self = bytes.withUnsafeBytes { ChunkKey(bytes: $0.baseAddress!) }
    }

    /// Parses 64 hexadecimal digits.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes)
    }

    /// The key of `bytes`: their SHA-256.
    public init(of bytes: UnsafeRawBufferPointer) {
        let hasher = SHA2Hasher(.sha256)
        hasher.update(bytes)
        self.init(hasher.finalize().bytes)!
    }

    /// Calls `body` with the 32 key bytes.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: (w0, w1, w2, w3)) { try body($0) }
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Byte order, as LMDB sorts the keys.
    public static func < (a: Self, b: Self) -> Bool {
        (a.w0.byteSwapped, a.w1.byteSwapped, a.w2.byteSwapped, a.w3.byteSwapped)
            < (b.w0.byteSwapped, b.w1.byteSwapped, b.w2.byteSwapped, b.w3.byteSwapped)
    }
}

/// What the store knows about one chunk besides its bytes (the `refs` database): how many
/// manifest entries use it, its size and its blockmap checksum. 30 bytes:
/// refcount (UInt64 LE) · size (UInt32 LE) · BLAKE2b-18 (18 bytes).
public struct ChunkRecord: Equatable, Sendable {
    public static let encodedSize = 30

    public var refcount: UInt64
    public var size: Int
    public var checksum: ChunkChecksum

    public init(refcount: UInt64, size: Int, checksum: ChunkChecksum) {
        self.refcount = refcount
        self.size = size
        self.checksum = checksum
    }

    public init?(decoding value: UnsafeRawBufferPointer) {
        guard value.count == Self.encodedSize, let p = value.baseAddress else { return nil }
        refcount = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        size = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        checksum = ChunkChecksum(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt64.self)),
                                 UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 20, as: UInt64.self)),
                                 UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt16.self))))
    }

    /// Writes the 30 bytes to `out`.
    public func encode(into out: UnsafeMutableRawPointer) {
        out.storeBytes(of: refcount.littleEndian, toByteOffset: 0, as: UInt64.self)
        out.storeBytes(of: UInt32(size).littleEndian, toByteOffset: 8, as: UInt32.self)
        // ChunkChecksum's words hold the digest bytes little-endian (see its init(bytes:)).
        out.storeBytes(of: checksum.w0.littleEndian, toByteOffset: 12, as: UInt64.self)
        out.storeBytes(of: checksum.w1.littleEndian, toByteOffset: 20, as: UInt64.self)
        out.storeBytes(of: checksum.w2.littleEndian, toByteOffset: 28, as: UInt16.self)
    }

    public var encoded: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.encodedSize)
        out.withUnsafeMutableBytes { encode(into: $0.baseAddress!) }
        return out
    }
}
