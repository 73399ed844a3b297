import BlockyardCore
import Foundation

/// Tensor boundaries of model files, forced as chunk boundaries in addition to the
/// content-defined cuts (`store add --aware`, the default). See docs/STORE.md,
/// "Format-aware boundaries".
///
/// * safetensors: an 8-byte little-endian header length `N`, a JSON header of `N` bytes
///   whose entries carry `data_offsets: [begin, end]` relative to the data section at
///   `8 + N`. Boundaries: the data start and the begin and end of every tensor of at least
///   ``minimumTensorSize`` bytes.
/// * GGUF (versions 2 and 3): header, metadata key/values, tensor infos with offsets relative
///   to the data section, which starts at the next multiple of `general.alignment` (32 by
///   default). Boundaries: the data start and every tensor's start (a tensor ends where the
///   next begins, up to alignment padding, so ends add nothing), where the tensor starting
///   or ending there has at least ``minimumTensorSize`` bytes.
///
/// Detection is by content, not by name. Anything that does not parse cleanly, or whose
/// offsets fall outside the file, yields no boundaries: the file is then chunked like any
/// other, never rejected.
public enum TensorBoundaries {
    /// The safetensors format's own limit on the header.
    static let safetensorsHeaderLimit = 100_000_000
    /// How much of a GGUF file's start is read at most to find its tensor infos.
    static let ggufHeaderLimit = 64 << 20

    /// Boundaries found in a file's leading bytes: the format and the sorted, distinct
    /// offsets strictly inside the file.
    public struct Result: Equatable, Sendable {
        public var format: BoundaryFormat
        public var offsets: [Int]
    }

    /// Looks at the start of `stream` (peeking, so nothing is consumed).
    static func detect(_ stream: PeekableStream, size: Int?) throws -> Result? {
        let start = try stream.peek(9)
        guard start.count == 9 else { return nil }
        if start[0..<4].elementsEqual("GGUF".utf8) {
            var want = 1 << 20
            while true {
                let head = try stream.peek(want)
                switch gguf(head, size: size) {
                case .found(let result): return result
                case .invalid: return nil
                case .needMore:
                    if head.count < want || want >= ggufHeaderLimit { return nil }
                    want = min(want * 4, ggufHeaderLimit)
                }
            }
        }
        let n = start.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        // The header is a JSON object: check its first byte before reading up to 100 MB.
        guard n >= 2, n <= UInt64(safetensorsHeaderLimit), start[8] == UInt8(ascii: "{") else { return nil }
        return try stream.withPeeked(8 + Int(n)) { head in
            head.count == 8 + Int(n) ? safetensors(head, size: size) : nil
        }
    }

    /// Parses a safetensors header (`bytes` holds at least the 8 + N header bytes).
    public static func safetensors(_ bytes: [UInt8], size: Int?) -> Result? {
        bytes.withUnsafeBytes { safetensors($0, size: size) }
    }

    static func safetensors(_ bytes: UnsafeRawBufferPointer, size: Int?) -> Result? {
        guard bytes.count >= 8 else { return nil }
        let n = Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
        guard n >= 2, n <= safetensorsHeaderLimit, bytes.count >= 8 + n, bytes[8] == UInt8(ascii: "{") else { return nil }
        guard let extents = SafetensorsHeader.extents(of: UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])) else { return nil }
        let dataStart = 8 + n
        var dataEnd = dataStart
        for extent in extents { dataEnd = max(dataEnd, dataStart + extent.end) }
        if let size, dataEnd > size { return nil }
        return Result(format: .safetensors, offsets: cuts(dataStart: dataStart, extents: extents, size: size))
    }

    /// The smallest tensor that gets cuts of its own: the chunker's minimum chunk. A smaller
    /// tensor would become a chunk smaller than any content-defined one (a million 4-byte
    /// tensors: a million chunks and their records); runs of them are chunked by content
    /// between the cuts of the larger tensors around them.
    public static let minimumTensorSize = ChunkerParameters.electronBuilder.minSize

    /// The forced cuts for tensors at `extents` (relative to `dataStart`): the data start, and
    /// both ends of every tensor of at least ``minimumTensorSize`` bytes.
    static func cuts(dataStart: Int, extents: [(begin: Int, end: Int)], size: Int?) -> [Int] {
        var offsets = [dataStart]
        for extent in extents where extent.end - extent.begin >= minimumTensorSize {
            offsets.append(dataStart + extent.begin)
            offsets.append(dataStart + extent.end)
        }
        return inside(offsets, size: size)
    }

    enum Parse {
        case found(Result)
        case needMore
        case invalid
    }

    /// Parses a GGUF header from the file's first bytes.
    static func gguf(_ bytes: [UInt8], size: Int?) -> Parse {
        var r = GGUFReader(bytes: bytes)
        do {
            guard try r.u32() == 0x4655_4747 else { return .invalid } // "GGUF"
            let version = try r.u32()
            guard version == 2 || version == 3 else { return .invalid }
            let tensorCount = try r.u64()
            let kvCount = try r.u64()
            guard tensorCount < 1 << 24, kvCount < 1 << 24 else { return .invalid }
            var alignment = 32
            for _ in 0..<kvCount {
                let key = try r.string()
                let type = try r.u32()
                if key == "general.alignment" && type == 4 {
                    alignment = Int(try r.u32())
                    guard alignment > 0, alignment & (alignment - 1) == 0 else { return .invalid }
                } else {
                    try r.skipValue(type: type)
                }
            }
            var starts: [Int] = []
            starts.reserveCapacity(Int(tensorCount))
            for _ in 0..<tensorCount {
                _ = try r.string()
                let dims = try r.u32()
                guard dims <= 8 else { return .invalid }
                for _ in 0..<dims { _ = try r.u64() }
                _ = try r.u32() // ggml type
                let offset = try r.u64()
                guard offset < 1 << 50 else { return .invalid }
                starts.append(Int(offset))
            }
            let dataStart = (r.position + alignment - 1) / alignment * alignment
            // A tensor runs from its start to the next one's (the last to the end of the file).
            starts = Array(Set(starts)).sorted()
            if let size, let last = starts.last, dataStart + last > size { return .invalid }
            var extents: [(begin: Int, end: Int)] = []
            extents.reserveCapacity(starts.count)
            for (k, start) in starts.enumerated() {
                let end = k + 1 < starts.count ? starts[k + 1] : (size.map { $0 - dataStart } ?? Int.max / 2)
                extents.append((start, end))
            }
            return .found(Result(format: .gguf, offsets: cuts(dataStart: dataStart, extents: extents, size: size)))
        } catch GGUFReader.Failure.truncated {
            return .needMore
        } catch {
            return .invalid
        }
    }

    /// Sorted, distinct offsets strictly between 0 and the end (cuts at either end change
    /// nothing).
    private static func inside(_ offsets: [Int], size: Int?) -> [Int] {
        var out = offsets.filter { $0 > 0 && (size == nil || $0 < size!) }
        out.sort()
        var last = -1
        out.removeAll { offset in
            defer { last = offset }
            return offset == last
        }
        return out
    }
}

/// Little-endian reads over a GGUF file's leading bytes.
private struct GGUFReader {
    enum Failure: Error {
        case truncated
        case invalid
    }

    let bytes: [UInt8]
    var position = 0

    mutating func take(_ n: Int) throws -> Int {
        guard n >= 0 else { throw Failure.invalid }
        guard n <= bytes.count - position else { throw Failure.truncated }
        defer { position += n }
        return position
    }

    mutating func u32() throws -> UInt32 {
        let p = try take(4)
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: p, as: UInt32.self)) }
    }

    mutating func u64() throws -> UInt64 {
        let p = try take(8)
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: p, as: UInt64.self)) }
    }

    mutating func string() throws -> String {
        let n = try u64()
        guard n < 1 << 30 else { throw Failure.invalid }
        let p = try take(Int(n))
        return String(decoding: bytes[p..<(p + Int(n))], as: UTF8.self)
    }

    /// Skips a metadata value of GGUF type `type`.
    mutating func skipValue(type: UInt32) throws {
        switch type {
        case 0, 1, 7: _ = try take(1)          // u8, i8, bool
        case 2, 3: _ = try take(2)             // u16, i16
        case 4, 5, 6: _ = try take(4)          // u32, i32, f32
        case 10, 11, 12: _ = try take(8)       // u64, i64, f64
        case 8: _ = try string()
        case 9:
            let elementType = try u32()
            let count = try u64()
            guard count < 1 << 32 else { throw Failure.invalid }
            let fixed: Int? = switch elementType {
            case 0, 1, 7: 1
            case 2, 3: 2
            case 4, 5, 6: 4
            case 10, 11, 12: 8
            default: nil
            }
            if let fixed {
                _ = try take(Int(count) * fixed)
            } else {
                for _ in 0..<count { try skipValue(type: elementType) }
            }
        default:
            throw Failure.invalid
        }
    }
}
