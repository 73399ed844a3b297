/// Finds boundary candidates independently of chunk starts (shared spec §3.2): every offset
/// `e` whose 64-byte window fingerprint `WH(e)` (of bytes `e−64 ..< e`) has the low mask bits
/// all ones. Because `WH(e)` depends only on those 64 bytes, any region can be scanned on
/// its own, in any order, on any core; ``CutChainer`` then picks the actual cuts.
///
/// The kernel rolls four independent lanes in one loop: a single rolling hash is limited by
/// the latency of its dependency chain (shift → table load → xor per byte), and interleaving
/// four chains lets the CPU overlap them.
public enum BoundaryScanner {
    /// Appends to `candidates`, in ascending order, every `e` in `from + 1 ... to` with
    /// `WH(e) & mask == mask`. Requires `from >= 64`; reads bytes `from − 64 ..< to`.
    public static func scan(_ base: UnsafePointer<UInt8>, from: Int, to: Int, mask: UInt64,
                            into candidates: inout [Int]) {
        precondition(from >= 64, "BoundaryScanner.scan needs 64 bytes of context before `from`")
        guard to > from else { return }
        let total = to - from
        let lanes = 4
        let laneLength = total / lanes
        guard laneLength >= 256 else {
            scanLane(base, from: from, to: to, mask: mask, into: &candidates)
            return
        }
        let table = RabinTables.standardPointer
        let pop = table + 256
        // Prime each lane with the 64 bytes before its start: h = WH(start).
        let a0 = from, a1 = from + laneLength, a2 = from + 2 * laneLength, a3 = from + 3 * laneLength
        var h0 = prime(base + a0 - 64), h1 = prime(base + a1 - 64)
        var h2 = prime(base + a2 - 64), h3 = prime(base + a3 - 64)
        var c0: [Int] = [], c1: [Int] = [], c2: [Int] = [], c3: [Int] = []
        var q0 = base + a0, q1 = base + a1, q2 = base + a2, q3 = base + a3
        let end0 = base + a1
        while q0 < end0 {
            h0 ^= pop[Int(q0[-64])]
            h1 ^= pop[Int(q1[-64])]
            h2 ^= pop[Int(q2[-64])]
            h3 ^= pop[Int(q3[-64])]
            h0 = ((h0 &<< 8) | UInt64(q0.pointee)) ^ table[Int(h0 &>> 55)]
            h1 = ((h1 &<< 8) | UInt64(q1.pointee)) ^ table[Int(h1 &>> 55)]
            h2 = ((h2 &<< 8) | UInt64(q2.pointee)) ^ table[Int(h2 &>> 55)]
            h3 = ((h3 &<< 8) | UInt64(q3.pointee)) ^ table[Int(h3 &>> 55)]
            q0 += 1; q1 += 1; q2 += 1; q3 += 1
            if (h0 & mask == mask) || (h1 & mask == mask) || (h2 & mask == mask) || (h3 & mask == mask) {
                if h0 & mask == mask { c0.append(q0 - base) }
                if h1 & mask == mask { c1.append(q1 - base) }
                if h2 & mask == mask { c2.append(q2 - base) }
                if h3 & mask == mask { c3.append(q3 - base) }
            }
        }
        candidates.append(contentsOf: c0)
        candidates.append(contentsOf: c1)
        candidates.append(contentsOf: c2)
        candidates.append(contentsOf: c3)
        // Lane 3 continues with the remainder on its own.
        if q3 - base < to {
            var h = h3
            var q = q3
            let end = base + to
            while q < end {
                h ^= pop[Int(q[-64])]
                h = ((h &<< 8) | UInt64(q.pointee)) ^ table[Int(h &>> 55)]
                q += 1
                if h & mask == mask { candidates.append(q - base) }
            }
        }
    }

    /// The plain single-lane scan (small regions, and the reference for tests).
    public static func scanLane(_ base: UnsafePointer<UInt8>, from: Int, to: Int, mask: UInt64,
                                into candidates: inout [Int]) {
        precondition(from >= 64)
        let table = RabinTables.standardPointer
        let pop = table + 256
        var h = prime(base + from - 64)
        var q = base + from
        let end = base + to
        while q < end {
            h ^= pop[Int(q[-64])]
            h = ((h &<< 8) | UInt64(q.pointee)) ^ table[Int(h &>> 55)]
            q += 1
            if h & mask == mask { candidates.append(q - base) }
        }
    }

    /// Fingerprint of the 64 bytes at `p` computed from scratch.
    @inline(__always)
    static func prime(_ p: UnsafePointer<UInt8>) -> UInt64 {
        let table = RabinTables.standardPointer
        var h: UInt64 = 0
        for i in 0..<64 {
            h = ((h &<< 8) | UInt64(p[i])) ^ table[Int(h &>> 55)]
        }
        return h
    }
}

/// Turns boundary candidates into the cuts of the sequential chunker (shared spec §3.2):
/// from each chunk start, the cut is the first candidate in `start+min … min(start+max−1, N)`,
/// else `start+max` if that is within the input, else `N` (end of input). Feed candidates in
/// ascending order together with how far the input has been scanned; the chainer emits each
/// cut as soon as it is certain.
public struct CutChainer: Sendable {
    public let parameters: ChunkerParameters
    /// Size of the whole input.
    public let totalSize: Int
    /// Start of the next chunk.
    public private(set) var start = 0
    /// True once the final chunk has been emitted.
    public private(set) var isFinished = false
    /// True when the last cut was made by the hash or size rule exactly at the end of input
    /// (or the input is empty): app-builder then emits a zero-length chunk.
    public private(set) var endsWithZeroChunk = false
    private var candidates: [Int] = []
    private var next = 0

    public init(totalSize: Int, parameters: ChunkerParameters = .electronBuilder) {
        self.totalSize = totalSize
        self.parameters = parameters
    }

    /// Adds candidates (ascending, beyond all earlier ones) and declares every offset up to
    /// `scannedThrough` scanned; returns the cuts (chunk end offsets) that became certain.
    public mutating func advance(candidates newCandidates: [Int], scannedThrough: Int) -> [Int] {
        if next > 4096 {
            candidates.removeFirst(next)
            next = 0
        }
        candidates.append(contentsOf: newCandidates)
        var cuts: [Int] = []
        let n = totalSize, minSize = parameters.minSize, maxSize = parameters.maxSize
        while !isFinished {
            let remaining = n - start
            if remaining < minSize {
                // The final short chunk (possibly empty: app-builder's zero-length chunk).
                if remaining > 0 { cuts.append(n) } else { endsWithZeroChunk = true }
                isFinished = true
                break
            }
            let lo = start + minSize
            let hi = min(start + maxSize - 1, n)
            guard scannedThrough >= hi else { break }
            while next < candidates.count && candidates[next] < lo { next += 1 }
            let cut: Int
            var byEnd = false
            if next < candidates.count && candidates[next] <= hi {
                cut = candidates[next]
            } else if start + maxSize <= n {
                cut = start + maxSize
            } else {
                cut = n
                byEnd = true
            }
            cuts.append(cut)
            start = cut
            if byEnd { isFinished = true }
        }
        return cuts
    }
}
