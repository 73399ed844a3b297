import BlockyardCore
import BlockyardTestSupport

/// Inputs for the delivery-format tests.
enum DeliveryTestData {
    /// Text-like bytes: words drawn from a small vocabulary (compresses 3–5× with zstd).
    static func compressible(seed: UInt64, count: Int) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let words = (0 ..< 64).map { i in (0 ..< 2 + i % 9).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 26) } }
        var out: [UInt8] = []
        out.reserveCapacity(count + 16)
        while out.count < count {
            out += words[Int(rng.next() % 64)]
            out.append(rng.next() % 11 == 0 ? UInt8(ascii: "\n") : UInt8(ascii: " "))
        }
        return Array(out.prefix(count))
    }

    /// SplitMix64 bytes (incompressible).
    static func random(seed: UInt64, count: Int) -> [UInt8] {
        VectorInputs.randomBytes(seed: seed, count: count)
    }

    /// Half random, half text, in 40 KiB stretches: both kinds of leaf.
    static func mixed(seed: UInt64, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var k: UInt64 = 0
        while out.count < count {
            let n = min(40_960, count - out.count)
            out += k % 2 == 0 ? compressible(seed: seed &+ k, count: n) : random(seed: seed &+ k, count: n)
            k += 1
        }
        return out
    }

    /// Level 1 keeps the debug-build tests quick; the format does not depend on the level.
    static let parameters = DeliveryParameters(compressionLevel: 1)
}
