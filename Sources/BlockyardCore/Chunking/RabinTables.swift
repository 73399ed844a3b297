/// The two 256-entry lookup tables of go-rabin's rolling fingerprint (spec: shared
/// `specs/blockmap.md` §2), built once from the polynomial with exact GF(2) arithmetic.
///
/// * `push[i] = ((i · x^63) mod P) XOR ((i & 1) << 63)`: appends a byte.
/// * `pop[i]  = (i · x^(8·(window−1))) mod P`: removes the byte leaving the window.
public struct RabinTables: Sendable {
    /// go-rabin's `Poly64`, the polynomial app-builder uses. Degree 63.
    public static let poly64: UInt64 = 0xBFE6_B8A5_BF37_8D83

    public let polynomial: UInt64
    public let window: Int
    public let push: [UInt64]
    public let pop: [UInt64]

    /// The tables for `polynomial` (which must have degree 63) and a `window`-byte window.
    public init(polynomial: UInt64 = RabinTables.poly64, window: Int = 64) {
        precondition(polynomial >> 63 == 1, "the polynomial must have degree 63")
        precondition(window >= 1)
        self.polynomial = polynomial
        self.window = window
        var push = [UInt64](repeating: 0, count: 256)
        var pop = [UInt64](repeating: 0, count: 256)
        for i in 0..<256 {
            let value = UInt64(i)
            push[i] = Self.mulXPowMod(value, 63, polynomial) ^ ((value & 1) << 63)
            pop[i] = Self.mulXPowMod(value, 8 * (window - 1), polynomial)
        }
        self.push = push
        self.pop = pop
    }

    /// `(a · x^k) mod p` for `a` of degree < 63 and `p` of degree 63: shift left one bit at a
    /// time and reduce whenever bit 63 appears.
    static func mulXPowMod(_ a: UInt64, _ k: Int, _ p: UInt64) -> UInt64 {
        var r = a
        for _ in 0..<k {
            r <<= 1
            if r >> 63 == 1 { r ^= p }
        }
        return r
    }

    /// The tables for Poly64 with a 64-byte window, shared by every chunker.
    public static let standard = RabinTables()

    /// `standard`'s tables in one stable allocation (push at 0..<256, pop at 256..<512), so the
    /// hot loop indexes raw memory without bounds or uniqueness checks.
    nonisolated(unsafe) static let standardPointer: UnsafePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: 512)
        for i in 0..<256 {
            p[i] = standard.push[i]
            p[256 + i] = standard.pop[i]
        }
        return UnsafePointer(p)
    }()

    /// Fingerprint of `bytes` computed from scratch (append each byte to 0). Test and debug aid.
    public func fingerprint(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0
        for b in bytes {
            h = ((h << 8) | UInt64(b)) ^ push[Int(h >> 55)]
        }
        return h
    }
}
