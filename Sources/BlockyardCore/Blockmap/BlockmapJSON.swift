/// The exact JSON form of blockmaps (shared spec §6): one line, no whitespace, fixed key order,
/// no trailing newline — byte-identical to electron-builder's and app-builder's output.
extension Blockmap {
    /// The blockmap JSON as electron-builder writes it.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        let chunkCount = files.reduce(0) { $0 + $1.sizes.count }
        out.reserveCapacity(64 + chunkCount * 34)
        out.append(contentsOf: #"{"version":"#.utf8)
        JSONText.appendString(version, to: &out)
        out.append(contentsOf: #","files":["#.utf8)
        for (i, file) in files.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"name":"#.utf8)
            JSONText.appendString(file.name, to: &out)
            out.append(contentsOf: #","offset":"#.utf8)
            JSONText.appendInt(file.offset, to: &out)
            out.append(contentsOf: #","checksums":["#.utf8)
            for (k, checksum) in file.checksums.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                checksum.appendBase64(to: &out)
                out.append(UInt8(ascii: "\""))
            }
            out.append(contentsOf: #"],"sizes":["#.utf8)
            for (k, size) in file.sizes.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendInt(size, to: &out)
            }
            out.append(contentsOf: "]}".utf8)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// The blockmap JSON as a string.
    public var json: String { String(decoding: jsonBytes(), as: UTF8.self) }

    /// Parses blockmap JSON (any whitespace, any key order, unknown keys ignored) and checks
    /// its structure: version "1" or "2", at least one file, equal-length arrays, checksums of
    /// 24 base64 characters, sizes that are non-negative integers.
    public init(json bytes: [UInt8]) throws(BlockmapError) {
        var reader = BlockmapJSONReader(bytes)
        self = try reader.readBlockmap()
    }
}

/// Minimal JSON text helpers shared by the writers.
enum JSONText {
    static func appendInt(_ value: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// Appends `s` as a JSON string literal, escaping like `JSON.stringify`.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(contentsOf: String(b, radix: 16).leftPadded(2).utf8)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
