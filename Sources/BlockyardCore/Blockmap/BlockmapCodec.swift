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
    /// corrupt input.
    public static func decodeGzip(_ bytes: [UInt8]) throws(BlockmapError) -> Blockmap {
        guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else {
            throw .notGzip(firstBytes: Array(bytes.prefix(4)))
        }
        let json: [UInt8]
        do {
            json = try Zlib.decompress(bytes, format: .gzip, limit: maxDecodedSize)
        } catch {
            throw .compression(error)
        }
        return try Blockmap(json: json)
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
        let json: [UInt8]
        do {
            json = try Zlib.decompress(deflated, format: .raw, limit: maxDecodedSize)
        } catch {
            throw .compression(error)
        }
        return try Blockmap(json: json)
    }
}
