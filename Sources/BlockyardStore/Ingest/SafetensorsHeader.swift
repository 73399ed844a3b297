/// Reads the tensor extents out of a safetensors JSON header without building JSON objects:
/// one pass over the bytes, 16 bytes of memory per tensor (a generic JSON parser costs
/// kilobytes per tensor, gigabytes for a header of a million tiny tensors).
///
/// The header is an object whose members are tensors (`{"dtype":…,"shape":[…],
/// "data_offsets":[begin,end]}`) and an optional `__metadata__`. The whole text is checked as
/// JSON (strings, escapes, numbers, literals, nesting up to ``maxDepth``); anything else, or a
/// tensor without two non-negative integer `data_offsets`, is not a safetensors header.
struct SafetensorsHeader {
    /// Nesting allowed in values (metadata, shapes): deeper is refused, not recursed into.
    static let maxDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private var i = 0

    /// Each tensor's `data_offsets`, relative to the data section, in header order; nil when
    /// `json` is not a valid safetensors header. Trailing whitespace (the writers' padding)
    /// is allowed.
    static func extents(of json: UnsafeRawBufferPointer) -> [(begin: Int, end: Int)]? {
        var scanner = SafetensorsHeader(bytes: json)
        return scanner.header()
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private static let metadataKey = Array("__metadata__".utf8)
    private static let offsetsKey = Array("data_offsets".utf8)

    private mutating func header() -> [(begin: Int, end: Int)]? {
        var extents: [(begin: Int, end: Int)] = []
        guard take(UInt8(ascii: "{")) else { return nil }
        if !take(UInt8(ascii: "}")) {
            while true {
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                if equals(key, Self.metadataKey) {
                    guard skipValue(depth: 1) else { return nil }
                } else {
                    guard let extent = tensor() else { return nil }
                    extents.append(extent)
                }
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        skipWhitespace()
        return i == bytes.count ? extents : nil
    }

    /// A tensor object; its `data_offsets` (required, `[begin, end]` with begin ≤ end).
    private mutating func tensor() -> (begin: Int, end: Int)? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var found: (begin: Int, end: Int)?
        if !take(UInt8(ascii: "}")) {
            while true {
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                if equals(key, Self.offsetsKey) {
                    guard take(UInt8(ascii: "[")), let begin = integer(), take(UInt8(ascii: ",")),
                          let end = integer(), take(UInt8(ascii: "]")), begin <= end else { return nil }
                    found = (begin, end)
                } else {
                    guard skipValue(depth: 2) else { return nil }
                }
                if take(UInt8(ascii: ",")) { continue }
                guard take(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        return found
    }

    // MARK: JSON pieces

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    /// Skips whitespace, then consumes `c` if it comes next.
    private mutating func take(_ c: UInt8) -> Bool {
        skipWhitespace()
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
        return true
    }

    private func equals(_ range: Range<Int>, _ word: [UInt8]) -> Bool {
        range.count == word.count && word.indices.allSatisfy { bytes[range.lowerBound + $0] == word[$0] }
    }

    /// A string; the range of its raw bytes between the quotes (escapes checked, not decoded).
    private mutating func string() -> Range<Int>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return start..<(i - 1)
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { return nil }
                let e = bytes[i]
                i += 1
                if e == UInt8(ascii: "u") {
                    guard i + 4 <= bytes.count, (i..<(i + 4)).allSatisfy({ Self.isHex(bytes[$0]) }) else { return nil }
                    i += 4
                } else if !"\"\\/bfnrt".utf8.contains(e) {
                    return nil
                }
            case 0..<0x20:
                return nil
            default:
                continue
            }
        }
        return nil
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// A non-negative integer (no sign, fraction or exponent) below 2^62.
    private mutating func integer() -> Int? {
        skipWhitespace()
        var value = 0
        let start = i
        while i < bytes.count, Self.isDigit(bytes[i]) {
            value = value * 10 + Int(bytes[i] - 0x30)
            guard value < 1 << 62 else { return nil }
            i += 1
        }
        guard i > start, !(i < bytes.count && ".eE".utf8.contains(bytes[i])) else { return nil }
        // JSON has no leading zeros.
        guard bytes[start] != 0x30 || i == start + 1 else { return nil }
        return value
    }

    /// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() -> Bool {
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let start = i
        let whole = digits()
        guard whole > 0, bytes[start] != 0x30 || whole == 1 else { return false }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return true
    }

    /// Consumes decimal digits; how many.
    private mutating func digits() -> Int {
        let start = i
        while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        return i - start
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    /// Skips any JSON value nested at most ``maxDepth`` deep.
    private mutating func skipValue(depth: Int) -> Bool {
        guard depth <= Self.maxDepth else { return false }
        skipWhitespace()
        guard i < bytes.count else { return false }
        switch bytes[i] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"):
            i += 1
            if take(UInt8(ascii: "}")) { return true }
            while true {
                guard string() != nil, take(UInt8(ascii: ":")), skipValue(depth: depth + 1) else { return false }
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "}"))
            }
        case UInt8(ascii: "["):
            i += 1
            if take(UInt8(ascii: "]")) { return true }
            while true {
                guard skipValue(depth: depth + 1) else { return false }
                if take(UInt8(ascii: ",")) { continue }
                return take(UInt8(ascii: "]"))
            }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }
}
