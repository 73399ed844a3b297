/// The checksum of one blockmap chunk: BLAKE2b with an 18-byte digest, written in blockmaps as
/// 24 characters of standard base64 (18 bytes never need padding).
///
/// Stored as three little-endian words so that comparing and hashing it allocates nothing.
public struct ChunkChecksum: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let byteCount = 18
    public static let base64Length = 24

    public let w0: UInt64
    public let w1: UInt64
    public let w2: UInt16

    public init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = UInt16(truncatingIfNeeded: w2)
    }

    /// The checksum of `bytes` (BLAKE2b-18).
    public init(of bytes: UnsafeRawBufferPointer) {
        self = BLAKE2b.chunkChecksum(bytes)
    }

    /// Builds a checksum from exactly 18 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let a = Array(bytes)
        var w = [UInt64](repeating: 0, count: 3)
        for i in 0..<18 { w[i / 8] |= UInt64(a[i]) << (8 * UInt64(i % 8)) }
        self.init(w[0], w[1], w[2])
    }

    /// Parses the 24-character base64 form; nil if it is not exactly that.
    public init?(base64 text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == Self.base64Length else { return nil }
        self.init(base64UTF8: utf8[...])
    }

    /// Parses 24 base64 characters (no padding can occur for 18 bytes).
    public init?(base64UTF8 chars: ArraySlice<UInt8>) {
        guard chars.count == Self.base64Length else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(18)
        var i = chars.startIndex
        while i < chars.endIndex {
            var n: UInt32 = 0
            for k in 0..<4 {
                let v = Base64.reverse[Int(chars[i + k])]
                if v == 0xFF { return nil }
                n = n << 6 | UInt32(v)
            }
            out.append(UInt8(n >> 16 & 0xFF))
            out.append(UInt8(n >> 8 & 0xFF))
            out.append(UInt8(n & 0xFF))
            i += 4
        }
        self.init(bytes: out)
    }

    /// The 18 digest bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(18)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: w0 >> (8 * UInt64(i)))) }
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: w1 >> (8 * UInt64(i)))) }
        out.append(UInt8(truncatingIfNeeded: w2))
        out.append(UInt8(truncatingIfNeeded: w2 >> 8))
        return out
    }

    /// Appends the 24 base64 characters to `out`.
    public func appendBase64(to out: inout [UInt8]) {
        Base64.append(bytes, to: &out)
    }

    public var base64: String { Base64.encode(bytes) }

    public var description: String { base64 }

    public static func < (a: Self, b: Self) -> Bool {
        (a.w0, a.w1, a.w2) < (b.w0, b.w1, b.w2)
    }

    /// The checksum of zero bytes: `kaGkgagus/PmJi3hHxQtI0lF`.
    public static let empty = BLAKE2b.chunkChecksum(UnsafeRawBufferPointer(start: nil, count: 0))
}
