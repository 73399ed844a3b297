/// An open-addressing hash index from chunk keys — (checksum, size), or the checksum alone —
/// to entries numbered in insertion order, with a chain per key for repeated chunks.
///
/// Built for half a million chunks in a few milliseconds: no per-entry allocation, one
/// 32-byte record per entry, linear probing over a power-of-two table at most half full whose
/// slots carry 32 bits of the hash, so a probe touches an entry only when those bits match
/// (about one cache miss per lookup). The probe hash mixes all 18 checksum bytes and the size
/// with a per-process random key, so a crafted blockmap cannot force long probe sequences;
/// repeated keys go to the chain, not the probe sequence, and callers bound how far they walk
/// a chain.
struct ChunkKeyTable {
    struct Entry {
        var w0: UInt64
        var w1: UInt64
        var size: Int
        var w2: UInt16
        /// Next entry with the same key (+1; 0 = end of chain).
        var next: Int32
    }

    /// Per slot: entry index + 1 in the low 32 bits (0 = empty), hash tag in the high 32.
    private var slots: [UInt64]
    private var mask: Int
    private(set) var entries: [Entry] = []
    private let k0: UInt64
    private let k1: UInt64

    private static let processKeys: (UInt64, UInt64) = (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))

    /// - Parameter capacity: the number of entries expected (more are allowed; the table
    ///   grows). At most `UInt32.max - 1` entries.
    init(capacity: Int) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [UInt64](repeating: 0, count: n)
        mask = n - 1
        entries.reserveCapacity(capacity)
        (k0, k1) = Self.processKeys
    }

    var count: Int { entries.count }

    @inline(__always)
    private func hash(_ a: UInt64, _ b: UInt64, _ c: UInt16, _ size: Int) -> UInt64 {
        var h = a ^ k0
        h = (h ^ (h >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        h ^= b ^ k1
        h = (h ^ (h >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        h ^= UInt64(c) ^ (UInt64(bitPattern: Int64(size)) &* 0x9E37_79B9_7F4A_7C15)
        h = (h ^ (h >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 33)
    }

    @inline(__always)
    private static func same(_ e: Entry, _ checksum: ChunkChecksum, _ size: Int) -> Bool {
        e.w0 == checksum.w0 && e.w1 == checksum.w1 && e.w2 == checksum.w2 && e.size == size
    }

    /// Appends an entry with this key and returns its number. When `index` is true it becomes
    /// findable: the first entry of a key is the chain head (its first occurrence); later
    /// ones are linked right after the head.
    @discardableResult
    mutating func append(_ checksum: ChunkChecksum, size: Int, index: Bool = true) -> Int {
        let e = entries.count
        precondition(e < Int(UInt32.max) - 1, "too many chunks for one index")
        entries.append(Entry(w0: checksum.w0, w1: checksum.w1, size: size, w2: checksum.w2, next: 0))
        guard index else { return e }
        let h = hash(checksum.w0, checksum.w1, checksum.w2, size)
        let tag = h & 0xFFFF_FFFF_0000_0000
        var s = Int(truncatingIfNeeded: h) & mask
        slots.withUnsafeMutableBufferPointer { sl in
            entries.withUnsafeMutableBufferPointer { en in
                while true {
                    let v = sl[s]
                    if v == 0 {
                        sl[s] = tag | UInt64(e + 1)
                        return
                    }
                    if v & 0xFFFF_FFFF_0000_0000 == tag {
                        let head = Int(v & 0xFFFF_FFFF) - 1
                        if Self.same(en[head], checksum, size) {
                            en[e].next = en[head].next
                            en[head].next = Int32(truncatingIfNeeded: e + 1)
                            return
                        }
                    }
                    s = (s + 1) & mask
                }
            }
        }
        if entries.count * 2 > slots.count { grow() }
        return e
    }

    /// Appends an entry only if no entry has this key yet. Returns (entry, inserted).
    mutating func insertIfAbsent(_ checksum: ChunkChecksum, size: Int) -> (entry: Int, inserted: Bool) {
        let h = hash(checksum.w0, checksum.w1, checksum.w2, size)
        let tag = h & 0xFFFF_FFFF_0000_0000
        var s = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[s]
            if v == 0 { break }
            if v & 0xFFFF_FFFF_0000_0000 == tag {
                let e = Int(v & 0xFFFF_FFFF) - 1
                if Self.same(entries[e], checksum, size) { return (e, false) }
            }
            s = (s + 1) & mask
        }
        let e = entries.count
        precondition(e < Int(UInt32.max) - 1, "too many chunks for one index")
        entries.append(Entry(w0: checksum.w0, w1: checksum.w1, size: size, w2: checksum.w2, next: 0))
        slots[s] = tag | UInt64(e + 1)
        if entries.count * 2 > slots.count { grow() }
        return (e, true)
    }

    private mutating func grow() {
        let n = slots.count * 2
        var fresh = [UInt64](repeating: 0, count: n)
        let m = n - 1
        for v in slots where v != 0 {
            let e = entries[Int(v & 0xFFFF_FFFF) - 1]
            var s = Int(truncatingIfNeeded: hash(e.w0, e.w1, e.w2, e.size)) & m
            while fresh[s] != 0 { s = (s + 1) & m }
            fresh[s] = v
        }
        slots = fresh
        mask = m
    }

    /// The first entry with this key, or -1.
    @inline(__always)
    func find(_ checksum: ChunkChecksum, size: Int) -> Int {
        let h = hash(checksum.w0, checksum.w1, checksum.w2, size)
        let tag = h & 0xFFFF_FFFF_0000_0000
        var s = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sl in
            entries.withUnsafeBufferPointer { en in
                while true {
                    let v = sl[s]
                    if v == 0 { return -1 }
                    if v & 0xFFFF_FFFF_0000_0000 == tag {
                        let e = Int(v & 0xFFFF_FFFF) - 1
                        if Self.same(en[e], checksum, size) { return e }
                    }
                    s = (s + 1) & mask
                }
            }
        }
    }

    /// The next entry with the same key as `entry`, or -1.
    @inline(__always)
    func nextSameKey(_ entry: Int) -> Int { Int(entries[entry].next) - 1 }

    /// Whether entry `e` has this key (whether or not it is indexed).
    @inline(__always)
    func matches(_ e: Int, _ checksum: ChunkChecksum, size: Int) -> Bool {
        Self.same(entries[e], checksum, size)
    }
}
