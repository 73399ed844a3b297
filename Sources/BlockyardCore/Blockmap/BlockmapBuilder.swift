/// Builds a blockmap and the whole-file SHA-512 from a stream of buffers of any size, in one
/// pass, on the calling thread. The reference implementation; `BlockyardIO`'s parallel
/// generator produces the same values using both cores.
public struct BlockmapBuilder {
    public let compat: BlockmapCompat
    private var chunker: Chunker
    private var chunkHasher = BLAKE2b(digestLength: ChunkChecksum.byteCount)
    private var checksums: [ChunkChecksum] = []
    private var sizes: [Int] = []
    private let sha512 = SHA2Hasher(.sha512)
    /// End of the last completed chunk.
    private var lastEnd = 0

    public init(compat: BlockmapCompat = .electronBuilder, parameters: ChunkerParameters = .electronBuilder) {
        self.compat = compat
        chunker = Chunker(parameters: parameters)
    }

    /// Adds the next bytes of the file.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count > 0, let base = buffer.baseAddress else { return }
        sha512.update(buffer)
        let bufStart = chunker.consumed
        var cuts: [Int] = []
        chunker.feed(buffer) { cuts.append($0) }
        for cut in cuts {
            let from = max(lastEnd, bufStart) - bufStart
            let piece = UnsafeRawBufferPointer(start: base + from, count: cut - bufStart - from)
            if lastEnd >= bufStart {
                // The whole chunk is in this buffer: one-shot, no copy.
                checksums.append(BLAKE2b.chunkChecksum(piece))
            } else {
                chunkHasher.update(piece)
                checksums.append(ChunkChecksum(bytes: chunkHasher.finalize())!)
                chunkHasher = BLAKE2b(digestLength: ChunkChecksum.byteCount)
            }
            sizes.append(cut - lastEnd)
            lastEnd = cut
        }
        let tailFrom = max(lastEnd, bufStart) - bufStart
        if tailFrom < buffer.count {
            chunkHasher.update(UnsafeRawBufferPointer(start: base + tailFrom, count: buffer.count - tailFrom))
        }
    }

    /// Adds the next bytes of the file.
    public mutating func update(contentsOf bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Ends the input and returns the result.
    public mutating func finalize() -> BlockmapResult {
        let blockmap = finishChunks()
        return BlockmapResult(blockmap: blockmap, size: chunker.consumed, sha512: sha512.finalize())
    }

    /// Ends the input for embedded mode (shared spec §7.2): returns the tail to append (raw
    /// DEFLATE blockmap + 4-byte big-endian length) and the info of the grown file, whose
    /// SHA-512 continues over the tail.
    public mutating func finalizeEmbedded() -> (result: BlockmapResult, tail: [UInt8]) {
        let blockmap = finishChunks()
        let tail = BlockmapCodec.embeddedTail(blockmap)
        sha512.update(contentsOf: tail)
        let result = BlockmapResult(blockmap: blockmap, size: chunker.consumed + tail.count,
                                    sha512: sha512.finalize(), blockMapSize: tail.count - 4)
        return (result, tail)
    }

    private mutating func finishChunks() -> Blockmap {
        if let end = chunker.finish() {
            checksums.append(ChunkChecksum(bytes: chunkHasher.finalize())!)
            sizes.append(end - lastEnd)
            lastEnd = end
        } else if compat == .appBuilder {
            checksums.append(.empty)
            sizes.append(0)
        }
        return Blockmap(checksums: checksums, sizes: sizes)
    }

    /// The blockmap of a complete buffer.
    public static func build(_ bytes: UnsafeRawBufferPointer, compat: BlockmapCompat = .electronBuilder) -> BlockmapResult {
        var builder = BlockmapBuilder(compat: compat)
        builder.update(bytes)
        return builder.finalize()
    }
}

/// A generated blockmap with the size and SHA-512 of the bytes it describes.
public struct BlockmapResult: Sendable {
    public var blockmap: Blockmap
    /// Size of the file (in embedded mode: of the grown file).
    public var size: Int
    /// SHA-512 of the file (in embedded mode: of the grown file).
    public var sha512: Digest
    /// Length of the embedded raw-DEFLATE blockmap (embedded mode only).
    public var blockMapSize: Int?

    public init(blockmap: Blockmap, size: Int, sha512: Digest, blockMapSize: Int? = nil) {
        self.blockmap = blockmap
        self.size = size
        self.sha512 = sha512
        self.blockMapSize = blockMapSize
    }

    /// The info JSON `app-builder blockmap` prints (shared spec §6.2).
    public var info: BlockmapInfo { BlockmapInfo(size: size, sha512: sha512.base64, blockMapSize: blockMapSize) }
}

/// The info JSON of `app-builder blockmap`: `{"size":N,"sha512":"…"}`, plus `blockMapSize`
/// in embedded mode. electron-builder copies these values into `latest*.yml`.
public struct BlockmapInfo: Equatable, Sendable {
    public var size: Int
    /// Base64 SHA-512 (88 characters).
    public var sha512: String
    /// Length of the embedded raw-DEFLATE blockmap (embedded mode only).
    public var blockMapSize: Int?

    public init(size: Int, sha512: String, blockMapSize: Int? = nil) {
        self.size = size
        self.sha512 = sha512
        self.blockMapSize = blockMapSize
    }

    /// Exactly as app-builder prints it: no spaces, no trailing newline.
    public var json: String {
        var out: [UInt8] = Array(#"{"size":"#.utf8)
        JSONText.appendInt(size, to: &out)
        out.append(contentsOf: #","sha512":"#.utf8)
        JSONText.appendString(sha512, to: &out)
        if let blockMapSize {
            out.append(contentsOf: #","blockMapSize":"#.utf8)
            JSONText.appendInt(blockMapSize, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}
