import Foundation

/// Regenerates the shared golden-vector inputs from their names, following the grammar
/// documented in `shared/vectors/gen.py` (SplitMix64 streams, zero runs, the synthetic model
/// bundle and its edited variants). Inputs are never stored in the repository.
public enum VectorInputs {
    public static let mib = 1_048_576

    /// The bytes of vector `name`; nil for a name outside the grammar.
    public static func generate(_ name: String) -> [UInt8]? {
        if name == "empty" { return [] }
        if name == "hello-world" {
            return Array(String(repeating: "hello world. ", count: 1024).utf8)
        }
        let parts = name.split(separator: "-").map(String.init)
        if parts.count == 2, parts[0] == "zeros", let n = Int(parts[1]) {
            return [UInt8](repeating: 0, count: n)
        }
        if parts.count == 3, parts[0] == "random", let seed = UInt64(parts[1]), let n = Int(parts[2]) {
            return randomBytes(seed: seed, count: n)
        }
        if parts.count == 4, parts[0] == "bundle", let seed = UInt64(parts[1]), let mib = Int(parts[2]) {
            return bundle(seed: seed, mib: mib, variant: parts[3])
        }
        return nil
    }

    /// The first `count` bytes of the SplitMix64 byte stream for `seed` (little-endian words).
    public static func randomBytes(seed: UInt64, count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: (count + 7) / 8 * 8)
        out.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            var x = seed
            for i in 0..<words.count {
                x &+= 0x9E37_79B9_7F4A_7C15
                var z = x
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                words[i] = (z ^ (z >> 31)).littleEndian
            }
        }
        out.removeLast(out.count - count)
        return out
    }

    static func bundleSizes(mib: Int) -> [Int] {
        let total = mib * Self.mib
        let u = total / 48
        var sizes = (1...8).map { $0 * u }
        sizes.append(total - 4096 - sizes.reduce(0, +))
        return sizes
    }

    static func bundleFile(seed: UInt64, mib: Int, order: [Int]) -> [UInt8] {
        let sizes = bundleSizes(mib: mib)
        var header = "MODELBUNDLE 1\n"
        var offset = 4096
        for k in order {
            header += String(format: "tensor_%02d %d %d\n", k, offset, sizes[k])
            offset += sizes[k]
        }
        var bytes = Array(header.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: 4095 - bytes.count)
        bytes.append(UInt8(ascii: "\n"))
        bytes.reserveCapacity(offset)
        for k in order { bytes += randomBytes(seed: seed &* 1000 &+ UInt64(k), count: sizes[k]) }
        return bytes
    }

    static func bundle(seed: UInt64, mib: Int, variant: String) -> [UInt8]? {
        let order = Array(0...8)
        if variant == "swap" {
            var swapped = order
            swapped.swapAt(3, 6)
            return bundleFile(seed: seed, mib: mib, order: swapped)
        }
        let base = bundleFile(seed: seed, mib: mib, order: order)
        let t = base.count
        switch variant {
        case "base":
            return base
        case "overwrite1k":
            let p = t / 2 + 4321
            return Array(base[..<p]) + randomBytes(seed: seed &* 1000 &+ 101, count: 1024) + base[(p + 1024)...]
        case "insert100":
            return Array(base[..<12345]) + randomBytes(seed: seed &* 1000 &+ 102, count: 100) + base[12345...]
        case "delete4m":
            let d = t / 2 - 2 * Self.mib + 777
            return Array(base[..<d]) + base[(d + 4 * Self.mib)...]
        case "append":
            return base + randomBytes(seed: seed &* 1000 &+ 103, count: 2 * Self.mib + 4321)
        default:
            return nil
        }
    }
}
