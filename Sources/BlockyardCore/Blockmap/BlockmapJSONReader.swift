/// A strict, streaming reader for the blockmap schema. It reads its input through a window
/// of 64 KiB refilled from a source (an inflater), so a blockmap never exists as JSON text
/// in memory: what it keeps is the decoded checksums (``ChunkChecksum``) and sizes, about
/// 32 bytes per chunk, against at least 29 bytes of JSON per chunk. Errors are found as the
/// bytes arrive: invalid JSON is refused at its first bad byte, and a zero-length chunk
/// anywhere but at the end of `sizes` (electron-builder never writes one; app-builder only
/// as the last) at the next element.
struct BlockmapJSONReader {
    private var window: [UInt8]
    /// Valid bytes in `window`.
    private var end: Int
    /// Read position in `window`.
    private var i = 0
    /// Offset of `window[0]` in the whole input.
    private var base = 0
    private let source: ((UnsafeMutableRawBufferPointer) throws -> Int)?
    private var exhausted: Bool
    /// An error of the source that is not a ``CompressionError`` (reading a file, say).
    private(set) var sourceFailure: (any Error)?
    /// Objects and arrays open at the read position.
    private var depth = 0
    /// Deeper nesting is refused (the schema needs 3 levels; recursion must stay bounded).
    static let maxDepth = 64

    /// Reads `bytes`, all in memory.
    init(_ bytes: [UInt8]) {
        window = bytes
        end = bytes.count
        source = nil
        exhausted = true
    }

    /// Reads what `source` produces (0 at the end).
    init(windowSize: Int = 1 << 16, source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        window = [UInt8](repeating: 0, count: windowSize)
        end = 0
        self.source = source
        exhausted = false
    }

    // MARK: The schema

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
        try skipWhitespace()
        guard try !available() else { throw fail("unexpected data after the end of the blockmap object") }
        guard let version else { throw .missingField("version") }
        guard version == "2" || version == "1" else { throw .unsupportedVersion(version) }
        guard let files else { throw .missingField("files") }
        guard !files.isEmpty else { throw .noFiles }
        return Blockmap(version: version, files: files)
    }

    private mutating func readVersion() throws(BlockmapError) -> String {
        try skipWhitespace()
        if try peek() == UInt8(ascii: "\"") { return try readString() }
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
        try skipWhitespace()
        guard try peek() == UInt8(ascii: "{") else { throw .wrongType(field: "files[]", expected: "an object") }
        try readObject { (key, reader) throws(BlockmapError) in
            switch key {
            case "name":
                try reader.skipWhitespace()
                guard try reader.peek() == UInt8(ascii: "\"") else { throw .wrongType(field: "name", expected: "a string") }
                name = try reader.readString()
            case "offset":
                offset = try reader.readInteger(field: "offset")
            case "checksums":
                var list: [ChunkChecksum] = []
                let fileName = name ?? "?"
                try reader.readArray(field: "checksums") { (r) throws(BlockmapError) in
                    try r.skipWhitespace()
                    guard try r.peek() == UInt8(ascii: "\"") else {
                        throw .invalidChecksum(file: fileName, index: list.count, value: "(not a string)")
                    }
                    let checksum = try r.readChecksum { value throws(BlockmapError) in
                        BlockmapError.invalidChecksum(file: fileName, index: list.count, value: value)
                    }
                    list.append(checksum)
                }
                checksums = list
            case "sizes":
                var list: [Int] = []
                let fileName = name ?? "?"
                try reader.readArray(field: "sizes") { (r) throws(BlockmapError) in
                    try r.skipWhitespace()
                    if list.last == 0 {
                        // Another element follows a zero-length chunk.
                        throw .invalidSize(file: fileName, index: list.count - 1, value: "0, before the last chunk")
                    }
                    let snippet = r.snippet()
                    guard let n = try? r.readInteger(field: "sizes"), n >= 0 else {
                        throw .invalidSize(file: fileName, index: list.count, value: snippet)
                    }
                    list.append(n)
                }
                sizes = list
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

    // MARK: The input window

    func fail(_ reason: String) -> BlockmapError { .invalidJSON(offset: base + i, reason: reason) }

    /// Whether a byte is available at `i`, refilling the window when it is used up.
    @inline(__always)
    private mutating func available() throws(BlockmapError) -> Bool {
        if i < end { return true }
        return try refill()
    }

    private mutating func refill() throws(BlockmapError) -> Bool {
        guard !exhausted, let source else { return false }
        base += end
        i = 0
        end = 0
        let n: Int
        do {
            n = try window.withUnsafeMutableBytes { try source($0) }
        } catch let error as CompressionError {
            throw .compression(error)
        } catch let error as BlockmapError {
            throw error
        } catch {
            sourceFailure = error
            throw fail("the input could not be read")
        }
        if n == 0 {
            exhausted = true
            return false
        }
        end = n
        return true
    }

    private mutating func peek() throws(BlockmapError) -> UInt8? {
        try available() ? window[i] : nil
    }

    /// Up to 24 bytes from the read position, as far as the window holds them (for messages).
    private func snippet() -> String {
        String(decoding: window[i..<min(end, i + 24)], as: UTF8.self)
    }

    private static func character(_ c: UInt8) -> Character { Character(Unicode.Scalar(c)) }

    // MARK: Generic JSON pieces

    private mutating func skipWhitespace() throws(BlockmapError) {
        while try available() {
            switch window[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(BlockmapError) {
        try skipWhitespace()
        guard try available() else { throw fail("unexpected end of data, expected \(what)") }
        guard window[i] == c else { throw fail("expected \(what), found '\(Self.character(window[i]))'") }
        i += 1
    }

    private mutating func readObject(_ member: (String, inout BlockmapJSONReader) throws(BlockmapError) -> Void) throws(BlockmapError) {
        try expect(UInt8(ascii: "{"), "'{'")
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels deep") }
        try skipWhitespace()
        if try peek() == UInt8(ascii: "}") { i += 1; return }
        while true {
            try skipWhitespace()
            guard try peek() == UInt8(ascii: "\"") else {
                throw fail(i < end ? "expected a member name" : "unexpected end of data inside an object")
            }
            let key = try readString()
            try expect(UInt8(ascii: ":"), "':'")
            try member(key, &self)
            try skipWhitespace()
            guard try available() else { throw fail("unexpected end of data inside an object") }
            if window[i] == UInt8(ascii: ",") { i += 1; continue }
            if window[i] == UInt8(ascii: "}") { i += 1; return }
            throw fail("expected ',' or '}' in an object")
        }
    }

    private mutating func readArray(field: String, _ element: (inout BlockmapJSONReader) throws(BlockmapError) -> Void) throws(BlockmapError) {
        try skipWhitespace()
        guard try peek() == UInt8(ascii: "[") else {
            if i >= end { throw fail("unexpected end of data") }
            throw .wrongType(field: field, expected: "an array")
        }
        i += 1
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels deep") }
        try skipWhitespace()
        if try peek() == UInt8(ascii: "]") { i += 1; return }
        while true {
            try element(&self)
            try skipWhitespace()
            guard try available() else { throw fail("unexpected end of data inside \"\(field)\"") }
            if window[i] == UInt8(ascii: ",") { i += 1; continue }
            if window[i] == UInt8(ascii: "]") { i += 1; return }
            throw fail("expected ',' or ']' in \"\(field)\"")
        }
    }

    /// A checksum string: 24 base64 characters, decoded straight from the window when the
    /// string lies in it; `invalid` builds the error for anything else.
    private mutating func readChecksum(_ invalid: (String) throws(BlockmapError) -> BlockmapError) throws(BlockmapError) -> ChunkChecksum {
        try expect(UInt8(ascii: "\""), "'\"'")
        var k = i
        while k < end && k - i <= ChunkChecksum.base64Length {
            let c = window[k]
            if c == UInt8(ascii: "\"") {
                let value = window[i..<k]
                guard let checksum = ChunkChecksum(base64UTF8: value) else {
                    throw try invalid(String(decoding: value, as: UTF8.self))
                }
                i = k + 1
                return checksum
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            k += 1
        }
        // Across the window's end, with escapes, too long, or unterminated: the full decoder,
        // stopping soon after the 24 characters a checksum has.
        i -= 1
        let text = try readString(limit: 2 * ChunkChecksum.base64Length) { text throws(BlockmapError) in try invalid(text) }
        guard let checksum = ChunkChecksum(base64UTF8: ArraySlice(Array(text.utf8))) else { throw try invalid(text) }
        return checksum
    }

    /// Strings the schema reads (keys, names, versions) are short; a longer one is refused
    /// instead of being collected (skipped strings are not collected at all).
    static let maxStringLength = 1 << 16

    /// A string, decoded; `discard` skips it without keeping its bytes. One longer than
    /// `limit` bytes is refused (with `tooLong`'s error when given).
    private mutating func readString(limit: Int = maxStringLength, discard: Bool = false,
                                     tooLong: (String) throws(BlockmapError) -> BlockmapError? = { _ in nil }) throws(BlockmapError) -> String {
        try expect(UInt8(ascii: "\""), "'\"'")
        var out: [UInt8] = []
        while try available() {
            let c = window[i]
            i += 1
            if !discard && out.count > limit {
                if let error = try tooLong(String(decoding: out, as: UTF8.self)) { throw error }
                throw fail("a string longer than \(limit) bytes")
            }
            if discard { out.removeAll(keepingCapacity: true) }
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard try available() else { break }
                let e = window[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var hex: [UInt8] = []
                    while hex.count < 4, try available() {
                        hex.append(window[i])
                        i += 1
                    }
                    guard hex.count == 4, let v = UInt32(String(decoding: hex, as: UTF8.self), radix: 16) else {
                        throw fail("invalid \\u escape")
                    }
                    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw fail("invalid escape '\\\(Self.character(e))'")
                }
            case 0..<0x20:
                throw fail("control character in a string")
            default:
                out.append(c)
            }
        }
        throw fail("unexpected end of data inside a string")
    }

    private mutating func readInteger(field: String) throws(BlockmapError) -> Int {
        try skipWhitespace()
        guard try available() else { throw fail("unexpected end of data") }
        var negative = false
        if window[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var value = 0
        var digits = 0
        while try available(), window[i] >= UInt8(ascii: "0"), window[i] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(window[i] - UInt8(ascii: "0")))
            if o1 || o2 { throw .wrongType(field: field, expected: "an integer that fits in 64 bits") }
            value = s
            digits += 1
            i += 1
        }
        if digits == 0 {
            if try !available() { throw fail("unexpected end of data") }
            throw .wrongType(field: field, expected: "an integer")
        }
        if try available(), window[i] == UInt8(ascii: ".") || window[i] == UInt8(ascii: "e") || window[i] == UInt8(ascii: "E") {
            throw .wrongType(field: field, expected: "an integer (no fraction or exponent)")
        }
        return negative ? -value : value
    }

    private mutating func skipValue() throws(BlockmapError) {
        try skipWhitespace()
        guard let c = try peek() else { throw fail("unexpected end of data, expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            try readObject { (_, r) throws(BlockmapError) in try r.skipValue() }
        case UInt8(ascii: "["):
            try readArray(field: "value") { (r) throws(BlockmapError) in try r.skipValue() }
        case UInt8(ascii: "\""):
            _ = try readString(discard: true)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            // A number: sign, digits, fraction, exponent.
            var count = 0
            while try available(), "+-0123456789.eE".utf8.contains(window[i]) {
                i += 1
                count += 1
            }
            if count == 0 { throw fail("unexpected character '\(Self.character(c))'") }
        }
    }

    private mutating func literal(_ word: String) throws(BlockmapError) {
        for expected in word.utf8 {
            guard try available(), window[i] == expected else { throw fail("invalid literal") }
            i += 1
        }
    }
}
