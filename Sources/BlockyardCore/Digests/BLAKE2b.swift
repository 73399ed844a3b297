/// BLAKE2b (RFC 7693), unkeyed, sequential mode, with any digest length from 1 to 64 bytes.
///
/// Blockmaps use an 18-byte digest per chunk (``ChunkChecksum``). OpenSSL 3.0 cannot produce
/// BLAKE2b with a digest length other than 64, and truncating BLAKE2b-512 is a different
/// function, so Blockyard carries its own implementation (measured faster than libsodium and
/// libb2 here; see docs/BENCHMARKS.md).
public struct BLAKE2b: Sendable {
    @usableFromInline
    typealias State = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    static let iv: State = (
        0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
        0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179
    )

    public static let blockSize = 128

    var h: State
    var t0: UInt64 = 0
    var t1: UInt64 = 0
    /// Pending bytes (at most one block), kept because the last block is compressed differently.
    var pending: [UInt8] = []
    public let digestLength: Int

    /// A fresh hasher for `digestLength` bytes of output (1...64).
    public init(digestLength: Int) {
        precondition((1...64).contains(digestLength), "BLAKE2b digest length must be 1...64")
        self.digestLength = digestLength
        h = Self.initialState(digestLength: digestLength)
        pending.reserveCapacity(Self.blockSize)
    }

    @inline(__always)
    static func initialState(digestLength: Int) -> State {
        var s = iv
        // Parameter block word 0: digest length, key length 0, fanout 1, depth 1.
        s.0 ^= 0x0101_0000 | UInt64(digestLength)
        return s
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var n = bytes.count
        if !pending.isEmpty {
            let take = min(Self.blockSize - pending.count, n)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
            p += take
            n -= take
            // Keep a full pending block: it is the last one until more bytes arrive.
            if n == 0 { return }
            incrementCounter(by: Self.blockSize)
            pending.withUnsafeBytes { Self.compress(&h, $0.baseAddress!, t0, t1, last: false) }
            pending.removeAll(keepingCapacity: true)
        }
        // Compress all full blocks except one that might be the last.
        while n > Self.blockSize {
            incrementCounter(by: Self.blockSize)
            Self.compress(&h, p, t0, t1, last: false)
            p += Self.blockSize
            n -= Self.blockSize
        }
        pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
    }

    /// Returns the digest (`digestLength` bytes).
    public mutating func finalize() -> [UInt8] {
        incrementCounter(by: pending.count)
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        block.replaceSubrange(0..<pending.count, with: pending)
        block.withUnsafeBytes { Self.compress(&h, $0.baseAddress!, t0, t1, last: true) }
        return Self.bytes(of: h, count: digestLength)
    }

    @inline(__always)
    mutating func incrementCounter(by n: Int) {
        let (sum, overflow) = t0.addingReportingOverflow(UInt64(n))
        t0 = sum
        if overflow { t1 &+= 1 }
    }

    static func bytes(of h: State, count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for word in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(k)))) }
        }
        return Array(out.prefix(count))
    }

    /// The BLAKE2b-18 checksum of one chunk, in one call (no copies except the final block).
    public static func chunkChecksum(_ bytes: UnsafeRawBufferPointer) -> ChunkChecksum {
        var h = initialState(digestLength: ChunkChecksum.byteCount)
        var p = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        var n = bytes.count
        var t0: UInt64 = 0
        while n > blockSize {
            t0 &+= UInt64(blockSize)
            compress(&h, p, t0, 0, last: false)
            p += blockSize
            n -= blockSize
        }
        // Final block, zero-padded (also the single block of an empty message).
        var last: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &last) { block in
            if n > 0 { block.baseAddress!.copyMemory(from: p, byteCount: n) }
            t0 &+= UInt64(n)
            compress(&h, UnsafeRawPointer(block.baseAddress!), t0, 0, last: true)
        }
        return ChunkChecksum(h.0, h.1, h.2)
    }

    @inline(__always)
    static func g(_ a: inout UInt64, _ b: inout UInt64, _ c: inout UInt64, _ d: inout UInt64,
                  _ x: UInt64, _ y: UInt64) {
        a = a &+ b &+ x
        d = (d ^ a).rotatedRight(32)
        c = c &+ d
        b = (b ^ c).rotatedRight(24)
        a = a &+ b &+ y
        d = (d ^ a).rotatedRight(16)
        c = c &+ d
        b = (b ^ c).rotatedRight(63)
    }
}

extension UInt64 {
    @inline(__always)
    func rotatedRight(_ n: UInt64) -> UInt64 { (self &>> n) | (self &<< (64 &- n)) }
}
