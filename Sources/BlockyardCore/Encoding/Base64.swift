/// Standard base64 (RFC 4648 §4: `A–Z a–z 0–9 + /`, `=` padding), the encoding of every
/// checksum in blockmaps and update metadata.
public enum Base64 {
    @usableFromInline
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Reverse table: 0...63 for alphabet characters, 0xFF otherwise.
    @usableFromInline
    static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Encodes `bytes` with padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the base64 text of `bytes` to `out` (no allocation beyond `out`'s growth).
    public static func append(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        var it = bytes.makeIterator()
        while let b0 = it.next() {
            let b1 = it.next()
            let b2 = b1 == nil ? nil : it.next()
            let n = UInt32(b0) << 16 | UInt32(b1 ?? 0) << 8 | UInt32(b2 ?? 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(b1 == nil ? UInt8(ascii: "=") : alphabet[Int(n >> 6 & 63)])
            out.append(b2 == nil ? UInt8(ascii: "=") : alphabet[Int(n & 63)])
        }
    }

    /// Decodes padded standard base64. Returns nil on any character outside the alphabet,
    /// a length that is not a multiple of 4, or misplaced padding.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decode(utf8: Array(text.utf8))
    }

    public static func decode(utf8 chars: [UInt8]) -> [UInt8]? {
        guard chars.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        let pad = UInt8(ascii: "=")
        while i < chars.count {
            let last = i + 4 == chars.count
            let c0 = reverse[Int(chars[i])], c1 = reverse[Int(chars[i + 1])]
            guard c0 != 0xFF, c1 != 0xFF else { return nil }
            let p2 = chars[i + 2] == pad, p3 = chars[i + 3] == pad
            if p2 && !p3 { return nil }
            if (p2 || p3) && !last { return nil }
            let c2 = p2 ? 0 : reverse[Int(chars[i + 2])]
            let c3 = p3 ? 0 : reverse[Int(chars[i + 3])]
            guard c2 != 0xFF, c3 != 0xFF else { return nil }
            let n = UInt32(c0) << 18 | UInt32(c1) << 12 | UInt32(c2) << 6 | UInt32(c3)
            out.append(UInt8(n >> 16 & 0xFF))
            if !p2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if !p3 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }
}
