/// Reading and writing blockmaps in their two stored forms (shared spec §7): a gzip'd
/// `.blockmap` file, and raw DEFLATE plus a 4-byte big-endian length appended to an artifact.
public enum BlockmapCodec {
    /// electron-updater refuses blockmaps over 500 MB; Blockyard uses the same bound.
    public static let maxDecodedSize = 500 * 1_000_000

    /// The `.blockmap` file bytes: the JSON, gzip'd at level 9.
    public static func encodeGzip(_ blockmap: Blockmap) -> [UInt8] {
        Zlib.compress(blockmap.jsonBytes(), format: .gzip, level: 9)
    }

    /// Decodes a `.blockmap` file (gzip'd JSON) with precise errors for non-gzip, truncated or
    /// corrupt input. The JSON is parsed as it inflates (never held whole).
    public static func decodeGzip(_ bytes: [UInt8]) throws(BlockmapError) -> Blockmap {
        guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else {
            throw .notGzip(firstBytes: Array(bytes.prefix(4)))
        }
        do {
            return try decode(format: .gzip, read: ArrayReader(bytes).read)
        } catch let error as BlockmapError {
            throw error
        } catch {
            preconditionFailure("reading an array cannot fail: \(error)")
        }
    }

    /// Decodes a `.blockmap` file read piece by piece from `read` (which fills the buffer it
    /// is given and returns the count, 0 at the end; a file, say). Memory stays at the decoded
    /// chunk lists (about 32 bytes per chunk) plus a few buffers, whatever the file's size:
    /// neither the file nor the JSON is held whole, and bad data is refused as soon as it is
    /// read. Throws ``BlockmapError``, or what `read` throws.
    public static func decodeGzip(reading read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Blockmap {
        var first = [UInt8](repeating: 0, count: 4)
        var have = 0
        while have < 4 {
            let n = try first.withUnsafeMutableBytes { try read(UnsafeMutableRawBufferPointer(rebasing: $0[have...])) }
            if n == 0 { break }
            have += n
        }
        guard have >= 2, first[0] == 0x1F, first[1] == 0x8B else {
            throw BlockmapError.notGzip(firstBytes: Array(first.prefix(have)))
        }
        // Hand the bytes already read back to the inflater first.
        var pending = Array(first.prefix(have))
        return try decode(format: .gzip) { buffer in
            if !pending.isEmpty {
                let n = min(buffer.count, pending.count)
                buffer.copyBytes(from: pending.prefix(n))
                pending.removeFirst(n)
                return n
            }
            return try read(buffer)
        }
    }

    /// Inflates (`format`) what `read` gives and parses the blockmap as it comes.
    static func decode(format: Zlib.Format, read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Blockmap {
        let inflater = BlockmapInflater(format: format, limit: maxDecodedSize, read: read)
        var reader = BlockmapJSONReader(source: inflater.next(into:))
        do {
            return try reader.readBlockmap()
        } catch {
            if let failure = reader.sourceFailure { throw failure }
            throw error
        }
    }

    /// The tail electron-builder appends to an artifact in embedded mode:
    /// raw DEFLATE of the JSON, then its length as 4 bytes big-endian.
    public static func embeddedTail(_ blockmap: Blockmap) -> [UInt8] {
        let deflated = Zlib.compress(blockmap.jsonBytes(), format: .raw, level: 9)
        let n = UInt32(deflated.count)
        return deflated + [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    }

    /// Reads the 4-byte big-endian length trailer of an artifact with an embedded blockmap.
    /// - Returns: the length of the compressed blockmap that precedes the trailer.
    public static func embeddedLength(trailer: [UInt8], fileSize: Int) throws(BlockmapError) -> Int {
        guard fileSize >= 4, trailer.count == 4 else { throw .embeddedTooShort(fileSize: fileSize) }
        let length = Int(trailer[0]) << 24 | Int(trailer[1]) << 16 | Int(trailer[2]) << 8 | Int(trailer[3])
        guard length > 0, length <= fileSize - 4 else { throw .embeddedBadLength(length: length, fileSize: fileSize) }
        return length
    }

    /// Decodes the raw-DEFLATE blockmap of an embedded tail (without the 4-byte trailer).
    public static func decodeEmbedded(_ deflated: [UInt8]) throws(BlockmapError) -> Blockmap {
        do {
            return try decode(format: .raw, read: ArrayReader(deflated).read)
        } catch let error as BlockmapError {
            throw error
        } catch {
            preconditionFailure("reading an array cannot fail: \(error)")
        }
    }

    /// Decodes an embedded blockmap's raw DEFLATE read piece by piece from `read` (exactly
    /// the compressed bytes, without the trailer), as ``decodeGzip(reading:)`` does.
    public static func decodeEmbedded(reading read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Blockmap {
        try decode(format: .raw, read: read)
    }
}

/// Reads an array in pieces (the in-memory form of the streaming decoders' input).
private final class ArrayReader {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func read(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(buffer.count, bytes.count - position)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
        position += n
        return n
    }
}
