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
        var reader = JSONReader(bytes)
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

/// A strict reader for the blockmap schema. It decodes checksums straight into
/// ``ChunkChecksum`` values, so a 500 000-chunk blockmap parses without a String per chunk.
struct JSONReader {
    let bytes: [UInt8]
    var i = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func readBlockmap() throws(BlockmapError) -> Blockmap {
        var version: String?
        var files: [BlockmapFile]?
        try readObject { (key, reader) throws(BlockmapError) in
            switch key {
            case "version":
                version = try reader.readVersion()
            case "files":
                files = try reader.readFiles()
            default:
                try reader.skipValue()
            }
        }
        skipWhitespace()
        guard i == bytes.count else { throw fail("unexpected data after the end of the blockmap object") }
        guard let version else { throw .missingField("version") }
        guard version == "2" || version == "1" else { throw .unsupportedVersion(version) }
        guard let files else { throw .missingField("files") }
        guard !files.isEmpty else { throw .noFiles }
        return Blockmap(version: version, files: files)
    }

    private mutating func readVersion() throws(BlockmapError) -> String {
        skipWhitespace()
        if peek() == UInt8(ascii: "\"") { return try readString() }
        // app-builder always writes a string; tolerate a bare number for robustness.
        let n = try readInteger(field: "version")
        return String(n)
    }

    private mutating func readFiles() throws(BlockmapError) -> [BlockmapFile] {
        var files: [BlockmapFile] = []
        try readArray(field: "files") { (reader) throws(BlockmapError) in
            files.append(try reader.readFile())
        }
        return files
    }

    private mutating func readFile() throws(BlockmapError) -> BlockmapFile {
        var name: String?
        var offset: Int?
        var checksums: [ChunkChecksum]?
        var sizes: [Int]?
        var rawSizes: [Int] = []
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw .wrongType(field: "files[]", expected: "an object") }
        try readObject { (key, reader) throws(BlockmapError) in
            switch key {
            case "name":
                reader.skipWhitespace()
                guard reader.peek() == UInt8(ascii: "\"") else { throw .wrongType(field: "name", expected: "a string") }
                name = try reader.readString()
            case "offset":
                offset = try reader.readInteger(field: "offset")
            case "checksums":
                var list: [ChunkChecksum] = []
                let fileName = name ?? "?"
                try reader.readArray(field: "checksums") { (r) throws(BlockmapError) in
                    r.skipWhitespace()
                    let start = r.i
                    guard r.peek() == UInt8(ascii: "\"") else {
                        throw .invalidChecksum(file: fileName, index: list.count, value: "(not a string)")
                    }
                    let value = try r.readRawString()
                    guard let checksum = ChunkChecksum(base64UTF8: value) else {
                        _ = start
                        throw .invalidChecksum(file: fileName, index: list.count, value: String(decoding: value, as: UTF8.self))
                    }
                    list.append(checksum)
                }
                checksums = list
            case "sizes":
                rawSizes = []
                let fileName = name ?? "?"
                try reader.readArray(field: "sizes") { (r) throws(BlockmapError) in
                    r.skipWhitespace()
                    let start = r.i
                    guard let n = try? r.readInteger(field: "sizes"), n >= 0 else {
                        let end = min(r.bytes.count, start + 24)
                        throw .invalidSize(file: fileName, index: rawSizes.count,
                                           value: String(decoding: r.bytes[start..<end], as: UTF8.self))
                    }
                    rawSizes.append(n)
                }
                sizes = rawSizes
            default:
                try reader.skipValue()
            }
        }
        guard let checksums else { throw .missingField("checksums") }
        guard let sizes else { throw .missingField("sizes") }
        let fileName = name ?? "file"
        guard checksums.count == sizes.count else {
            throw .lengthMismatch(file: fileName, checksums: checksums.count, sizes: sizes.count)
        }
        guard let offset, offset >= 0 else {
            if offset == nil { throw .missingField("offset") }
            throw .wrongType(field: "offset", expected: "a non-negative integer")
        }
        guard name != nil else { throw .missingField("name") }
        return BlockmapFile(name: fileName, offset: offset, checksums: checksums, sizes: sizes)
    }

    // MARK: - Generic JSON pieces

    func fail(_ reason: String) -> BlockmapError { .invalidJSON(offset: i, reason: reason) }

    func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws(BlockmapError) {
        skipWhitespace()
        guard i < bytes.count else { throw fail("unexpected end of data, expected \(what)") }
        guard bytes[i] == c else { throw fail("expected \(what), found '\(Character(Unicode.Scalar(bytes[i])))'") }
        i += 1
    }

    mutating func readObject(_ member: (String, inout JSONReader) throws(BlockmapError) -> Void) throws(BlockmapError) {
        try expect(UInt8(ascii: "{"), "'{'")
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else {
                throw fail(i < bytes.count ? "expected a member name" : "unexpected end of data inside an object")
            }
            let key = try readString()
            try expect(UInt8(ascii: ":"), "':'")
            try member(key, &self)
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of data inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return }
            throw fail("expected ',' or '}' in an object")
        }
    }

    mutating func readArray(field: String, _ element: (inout JSONReader) throws(BlockmapError) -> Void) throws(BlockmapError) {
        skipWhitespace()
        guard peek() == UInt8(ascii: "[") else {
            if i >= bytes.count { throw fail("unexpected end of data") }
            throw .wrongType(field: field, expected: "an array")
        }
        i += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { i += 1; return }
        while true {
            try element(&self)
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of data inside \"\(field)\"") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return }
            throw fail("expected ',' or ']' in \"\(field)\"")
        }
    }

    /// A string's raw bytes between the quotes (no escapes allowed: checksums never have any).
    mutating func readRawString() throws(BlockmapError) -> ArraySlice<UInt8> {
        try expect(UInt8(ascii: "\""), "'\"'")
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return bytes[start..<(i - 1)]
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            i += 1
        }
        // Fall back to the full decoder for escapes and errors.
        i = start - 1
        let s = try readString()
        return ArraySlice(Array(s.utf8))
    }

    mutating func readString() throws(BlockmapError) -> String {
        try expect(UInt8(ascii: "\""), "'\"'")
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= bytes.count,
                          let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16)
                    else { throw fail("invalid \\u escape") }
                    i += 4
                    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            case 0..<0x20:
                throw fail("control character in a string")
            default:
                out.append(c)
            }
        }
        throw fail("unexpected end of data inside a string")
    }

    mutating func readInteger(field: String) throws(BlockmapError) -> Int {
        skipWhitespace()
        let start = i
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; i += 1 }
        var value = 0
        var digits = 0
        while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(bytes[i] - UInt8(ascii: "0")))
            if o1 || o2 { i = start; throw .wrongType(field: field, expected: "an integer that fits in 64 bits") }
            value = s
            digits += 1
            i += 1
        }
        if digits == 0 {
            i = start
            if start >= bytes.count { throw fail("unexpected end of data") }
            throw .wrongType(field: field, expected: "an integer")
        }
        if let c = peek(), c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            i = start
            throw .wrongType(field: field, expected: "an integer (no fraction or exponent)")
        }
        return negative ? -value : value
    }

    mutating func skipValue() throws(BlockmapError) {
        skipWhitespace()
        guard let c = peek() else { throw fail("unexpected end of data, expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            try readObject { (_, r) throws(BlockmapError) in try r.skipValue() }
        case UInt8(ascii: "["):
            try readArray(field: "value") { (r) throws(BlockmapError) in try r.skipValue() }
        case UInt8(ascii: "\""):
            _ = try readString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            // A number: sign, digits, fraction, exponent.
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            if i == start { throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'") }
        }
    }

    mutating func literal(_ word: String) throws(BlockmapError) {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("invalid literal") }
        i += w.count
    }
}
