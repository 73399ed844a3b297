/// Which generation of electron-builder's blockmap to reproduce (shared spec §8).
public enum BlockmapCompat: String, Sendable, CaseIterable, Codable {
    /// electron-builder ≥ 26.14 (TypeScript port): no trailing zero-length chunk; an empty
    /// file gives empty arrays. The default.
    case electronBuilder = "electron-builder"
    /// The Go `app-builder blockmap` tool (electron-builder ≤ 26.13): a zero-length chunk
    /// follows a last cut made exactly at end of input by the hash or size rule, and an empty
    /// file gives one zero-length chunk.
    case appBuilder = "app-builder"
}

/// One file entry of a blockmap: consecutive chunks starting at `offset`.
public struct BlockmapFile: Equatable, Sendable {
    public var name: String
    public var offset: Int
    public var checksums: [ChunkChecksum]
    public var sizes: [Int]

    public init(name: String = "file", offset: Int = 0, checksums: [ChunkChecksum], sizes: [Int]) {
        self.name = name
        self.offset = offset
        self.checksums = checksums
        self.sizes = sizes
    }

    /// Sum of the chunk sizes.
    public var totalSize: Int { sizes.reduce(0, +) }
}

/// An electron-builder blockmap: `{"version":"2","files":[{"name":"file","offset":0,
/// "checksums":[…],"sizes":[…]}]}`. Electron-builder always writes exactly one file named
/// `file` at offset 0; parsed blockmaps may hold more, and only `files[0]` is used by
/// electron-updater.
public struct Blockmap: Equatable, Sendable {
    public var version: String
    public var files: [BlockmapFile]

    public init(version: String = "2", files: [BlockmapFile]) {
        self.version = version
        self.files = files
    }

    /// A version-2 blockmap with one file named `file` at offset 0.
    public init(checksums: [ChunkChecksum], sizes: [Int]) {
        self.init(files: [BlockmapFile(checksums: checksums, sizes: sizes)])
    }

    /// The chunks of `files[0]` with their offsets (empty when there is no file).
    public var chunks: [Chunk] {
        guard let file = files.first else { return [] }
        var out: [Chunk] = []
        out.reserveCapacity(file.sizes.count)
        var offset = file.offset
        for (checksum, size) in zip(file.checksums, file.sizes) {
            out.append(Chunk(offset: offset, size: size, checksum: checksum))
            offset += size
        }
        return out
    }

    /// Total bytes described by `files[0]`.
    public var totalSize: Int { files.first?.totalSize ?? 0 }
}

/// One chunk of a file: where it is, how long, and its checksum.
public struct Chunk: Equatable, Hashable, Sendable {
    public var offset: Int
    public var size: Int
    public var checksum: ChunkChecksum

    public init(offset: Int, size: Int, checksum: ChunkChecksum) {
        self.offset = offset
        self.size = size
        self.checksum = checksum
    }

    public var end: Int { offset + size }
}
