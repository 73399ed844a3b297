import BlockyardCore

/// `NAME@VERSION`: one stored version of a named artifact.
public struct VersionRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let name: String
    public let version: String

    /// Validates a name and version: both non-empty, no NUL, newline or control characters,
    /// and no `@` in the version (names may contain `@`, as npm scopes do).
    public init(name: String, version: String) throws(StoreError) {
        for (what, text) in [("name", name), ("version", version)] {
            guard !text.isEmpty else { throw StoreError.invalidReference("the \(what) is empty") }
            guard text.utf8.count <= 400 else { throw StoreError.invalidReference("the \(what) is longer than 400 bytes") }
            if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw StoreError.invalidReference("the \(what) \(text.debugDescription) contains a control character")
            }
        }
        guard !version.contains("@") else {
            throw StoreError.invalidReference("the version \(version.debugDescription) contains '@'")
        }
        self.name = name
        self.version = version
    }

    /// Parses `NAME@VERSION`, splitting at the last `@`.
    public init(parsing text: String) throws(StoreError) {
        guard let at = text.lastIndex(of: "@"), at != text.startIndex else {
            throw StoreError.invalidReference("\(text.debugDescription) is not NAME@VERSION")
        }
        try self.init(name: String(text[..<at]), version: String(text[text.index(after: at)...]))
    }

    /// The manifest key: name, a 0 byte, version.
    var key: [UInt8] { Array(name.utf8) + [0] + Array(version.utf8) }

    init?(key: UnsafeRawBufferPointer) {
        guard let zero = key.firstIndex(of: 0) else { return nil }
        guard let ref = try? VersionRef(name: String(decoding: key[..<zero], as: UTF8.self),
                                        version: String(decoding: key[(zero + 1)...], as: UTF8.self)) else { return nil }
        self = ref
    }

    public var description: String { "\(name)@\(version)" }

    public static func < (a: Self, b: Self) -> Bool { a.key.lexicographicallyPrecedes(b.key) }
}

/// What was given to `store add`.
public enum SourceKind: Equatable, Sendable, CustomStringConvertible {
    /// A single file: one member.
    case file
    /// A directory: its regular files and symbolic links.
    case directory
    /// An archive read with libarchive ("tar", "tar.gz", "zip", …): its members.
    case archive(format: String)

    public var description: String {
        switch self {
        case .file: return "file"
        case .directory: return "directory"
        case .archive(let format): return format
        }
    }
}

/// Format-aware boundaries found in a member.
public enum BoundaryFormat: String, Sendable, Equatable, Codable {
    case safetensors
    case gguf
}

/// One chunk of a member: its key, blockmap checksum and size.
public struct ManifestChunk: Equatable, Sendable {
    public var key: ChunkKey
    public var checksum: ChunkChecksum
    public var size: Int

    public init(key: ChunkKey, checksum: ChunkChecksum, size: Int) {
        self.key = key
        self.checksum = checksum
        self.size = size
    }
}

/// One file of a version.
public struct ManifestMember: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case regular
        case symlink(target: String)
    }

    /// Relative path, `/`-separated (the file name for a single-file version).
    public var path: String
    /// Permission bits (`0o755` …).
    public var mode: UInt32
    public var kind: Kind
    public var size: Int
    public var sha512: Digest
    public var sha256: Digest
    public var chunks: [ManifestChunk]
    /// The chunker's last cut fell exactly at the end (app-builder then adds a 0-byte chunk).
    public var endsOnCut: Bool
    /// Boundaries forced at tensor offsets that the content-defined chunker had not cut at.
    /// Zero means the chunk list is exactly electron-builder's.
    public var forcedCuts: Int
    public var boundaryFormat: BoundaryFormat?

    public init(path: String, mode: UInt32, kind: Kind, size: Int, sha512: Digest, sha256: Digest,
                chunks: [ManifestChunk], endsOnCut: Bool, forcedCuts: Int, boundaryFormat: BoundaryFormat?) {
        self.path = path
        self.mode = mode
        self.kind = kind
        self.size = size
        self.sha512 = sha512
        self.sha256 = sha256
        self.chunks = chunks
        self.endsOnCut = endsOnCut
        self.forcedCuts = forcedCuts
        self.boundaryFormat = boundaryFormat
    }

    /// The electron-builder blockmap of this member, straight from the chunk list.
    /// Byte-identical to `blockyard blockmap` of the file when ``forcedCuts`` is 0.
    public func blockmap(compat: BlockmapCompat = .electronBuilder) -> BlockmapResult {
        var checksums = chunks.map(\.checksum)
        var sizes = chunks.map(\.size)
        if compat == .appBuilder && endsOnCut {
            checksums.append(.empty)
            sizes.append(0)
        }
        return BlockmapResult(blockmap: Blockmap(checksums: checksums, sizes: sizes), size: size, sha512: sha512)
    }

    /// Same path, kind, mode and bytes (how they were chunked aside).
    func sameContent(as other: ManifestMember) -> Bool {
        path == other.path && mode == other.mode && kind == other.kind && size == other.size
            && sha512 == other.sha512
    }
}

/// A stored version: its members and how they were chunked.
public struct Manifest: Equatable, Sendable {
    public var ref: VersionRef
    /// Milliseconds since 1970.
    public var createdAt: Int64
    public var source: SourceKind
    /// The base name of what was added.
    public var sourceName: String
    /// Whether format-aware boundaries were enabled for this add.
    public var aware: Bool
    public var members: [ManifestMember]

    public init(ref: VersionRef, createdAt: Int64, source: SourceKind, sourceName: String,
                aware: Bool, members: [ManifestMember]) {
        self.ref = ref
        self.createdAt = createdAt
        self.source = source
        self.sourceName = sourceName
        self.aware = aware
        self.members = members
    }

    /// Total bytes of all members.
    public var size: Int { members.reduce(0) { $0 + $1.size } }

    /// Total chunk references.
    public var chunkCount: Int { members.reduce(0) { $0 + $1.chunks.count } }

    public func member(_ path: String) -> ManifestMember? {
        members.first { $0.path == path }
    }

    /// Same members with the same content (what a retried `store add` must produce).
    public func sameContent(as other: Manifest) -> Bool {
        ref == other.ref && members.count == other.members.count
            && zip(members, other.members).allSatisfy { $0.sameContent(as: $1) }
    }
}

/// The start of an encoded manifest, enough for listings (decoded without the chunk lists).
public struct ManifestSummary: Equatable, Sendable {
    public var ref: VersionRef
    public var createdAt: Int64
    public var size: Int
    public var memberCount: Int
    public var chunkCount: Int
}
