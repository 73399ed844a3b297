import COpenSSLCrypto

/// A SHA-256 value of the delivery format: a chunk's hash (SHA-256 of its raw bytes) or a
/// node's hash. Held as four words, so comparing and hashing it allocates nothing.
public struct DeliveryHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes in order, as four little-endian words.
    public let words: (UInt64, UInt64, UInt64, UInt64)

    /// The length of a hash in the format, in bytes.
    public static let byteCount = 32

    /// The hash whose bytes are `bytes[offset ..< offset + 32]`.
    public init(bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        precondition(offset >= 0 && offset + 32 <= bytes.count, "DeliveryHash: 32 bytes needed")
        words = (bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian,
                 bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self).littleEndian,
                 bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self).littleEndian,
                 bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self).littleEndian)
    }

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32, "DeliveryHash: 32 bytes needed")
        self = bytes.withUnsafeBytes { DeliveryHash(bytes: $0) }
    }

    /// The 32 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { append(into: $0, at: 0) }
        return out
    }

    /// Writes the 32 bytes at `offset`.
    public func append(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.storeBytes(of: words.0.littleEndian, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: words.1.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
        buffer.storeBytes(of: words.2.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
        buffer.storeBytes(of: words.3.littleEndian, toByteOffset: offset + 24, as: UInt64.self)
    }

    /// Lower-case hexadecimal of the 32 bytes.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    /// Bytes 28 ..< 32 as a little-endian integer: the bits the tree's grouping rule tests.
    public var boundaryBits: UInt32 { UInt32(truncatingIfNeeded: words.3 >> 32) }

    public static func == (a: DeliveryHash, b: DeliveryHash) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// SHA-256 of `bytes` (one-shot; safe to call from several threads at once).
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> DeliveryHash {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        var empty: UInt8 = 0
        let ok = digest.withUnsafeMutableBufferPointer { out in
            withUnsafeMutablePointer(to: &empty) { emptyPointer in
                EVP_Digest(bytes.baseAddress ?? UnsafeRawPointer(emptyPointer), bytes.count,
                           out.baseAddress, &length, SHA256Digest.md, nil)
            }
        }
        guard ok == 1, length == 32 else { fatalError("EVP_Digest(SHA2-256) failed") }
        return DeliveryHash(digest)
    }

    public static func sha256(_ bytes: [UInt8]) -> DeliveryHash {
        bytes.withUnsafeBytes { sha256($0) }
    }
}

/// OpenSSL's SHA-256, fetched once per process.
private enum SHA256Digest {
    nonisolated(unsafe) static let md: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA2-256", nil) else {
            fatalError("OpenSSL libcrypto has no SHA2-256; is libssl3 installed correctly?")
        }
        return md
    }()
}
