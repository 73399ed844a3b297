import BlockyardCore

/// The binary encoding of manifests (values of the `manifests` database), little-endian:
///
///     "BYMF" · u16 codec version (1) · u64 total size · u32 members · u64 chunk references
///     · i64 created-at (ms) · str name · str version · u8 source (0 file, 1 directory,
///     2 archive) · str archive format · str source name · u8 flags (bit 0: aware)
///     per member: str path · u32 mode · u8 kind (0 regular, 1 symlink) · [str target]
///       · u64 size · 64 B SHA-512 · 32 B SHA-256 · u8 flags (bit 0: ends on cut)
///       · u8 boundary format (0 none, 1 safetensors, 2 gguf) · u32 forced cuts
///       · u32 chunks · per chunk: 32 B key · 18 B BLAKE2b-18 · u32 size
///
/// `str` is a u32 byte count and UTF-8 bytes. 54 bytes per chunk.
public enum ManifestCodec {
    static let magic: [UInt8] = Array("BYMF".utf8)
    static let codecVersion: UInt16 = 1

    public static func encode(_ manifest: Manifest) -> [UInt8] {
        var w = ByteWriter()
        w.reserve(96 + manifest.members.count * 160 + manifest.chunkCount * 54)
        w.append(magic)
        w.u16(codecVersion)
        w.u64(UInt64(manifest.size))
        w.u32(UInt32(manifest.members.count))
        w.u64(UInt64(manifest.chunkCount))
        w.u64(UInt64(bitPattern: manifest.createdAt))
        w.string(manifest.ref.name)
        w.string(manifest.ref.version)
        switch manifest.source {
        case .file: w.u8(0); w.string("")
        case .directory: w.u8(1); w.string("")
        case .archive(let format): w.u8(2); w.string(format)
        }
        w.string(manifest.sourceName)
        w.u8(manifest.aware ? 1 : 0)
        for m in manifest.members {
            w.string(m.path)
            w.u32(m.mode)
            switch m.kind {
            case .regular: w.u8(0)
            case .symlink(let target): w.u8(1); w.string(target)
            }
            w.u64(UInt64(m.size))
            w.append(m.sha512.bytes)
            w.append(m.sha256.bytes)
            w.u8(m.endsOnCut ? 1 : 0)
            switch m.boundaryFormat {
            case nil: w.u8(0)
            case .safetensors: w.u8(1)
            case .gguf: w.u8(2)
            }
            w.u32(UInt32(m.forcedCuts))
            w.u32(UInt32(m.chunks.count))
            for c in m.chunks {
                c.key.withUnsafeBytes { w.append($0) }
                w.append(c.checksum.bytes)
                w.u32(UInt32(c.size))
            }
        }
        return w.bytes
    }

    /// Decodes the fields before the member list.
    public static func decodeSummary(_ bytes: UnsafeRawBufferPointer) throws(StoreError) -> ManifestSummary {
        var r = ByteReader(bytes)
        return try header(&r).summary
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(StoreError) -> Manifest {
        var r = ByteReader(bytes)
        let (summary, source, sourceName, aware) = try header(&r)
        var members: [ManifestMember] = []
        members.reserveCapacity(summary.memberCount)
        var chunkTotal = 0
        for _ in 0..<summary.memberCount {
            let path = try r.string()
            let mode = try r.u32()
            let kind: ManifestMember.Kind
            switch try r.u8() {
            case 0: kind = .regular
            case 1: kind = .symlink(target: try r.string())
            case let k: throw r.corrupt("unknown member kind \(k)")
            }
            let size = Int(try r.u64())
            let sha512 = Digest(bytes: try r.bytes(64))
            let sha256 = Digest(bytes: try r.bytes(32))
            let flags = try r.u8()
            let boundary: BoundaryFormat?
            switch try r.u8() {
            case 0: boundary = nil
            case 1: boundary = .safetensors
            case 2: boundary = .gguf
            case let b: throw r.corrupt("unknown boundary format \(b)")
            }
            let forced = Int(try r.u32())
            let count = Int(try r.u32())
            guard count <= r.remaining / 54 else { throw r.corrupt("chunk count \(count) exceeds the data") }
            var chunks: [ManifestChunk] = []
            chunks.reserveCapacity(count)
            var total = 0
            for _ in 0..<count {
                let chunk = try r.withBytes(54) { p in
                    ManifestChunk(key: ChunkKey(bytes: p),
                                  checksum: ChunkChecksum(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self)),
                                                          UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 40, as: UInt64.self)),
                                                          UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 48, as: UInt16.self)))),
                                  size: Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 50, as: UInt32.self))))
                }
                total += chunk.size
                chunks.append(chunk)
            }
            guard total == size else { throw r.corrupt("member \(path) has chunks of \(total) bytes but size \(size)") }
            chunkTotal += count
            members.append(ManifestMember(path: path, mode: mode, kind: kind, size: size, sha512: sha512, sha256: sha256,
                                          chunks: chunks, endsOnCut: flags & 1 != 0, forcedCuts: forced, boundaryFormat: boundary))
        }
        guard r.remaining == 0 else { throw r.corrupt("\(r.remaining) bytes after the last member") }
        let manifest = Manifest(ref: summary.ref, createdAt: summary.createdAt, source: source, sourceName: sourceName,
                                aware: aware, members: members)
        guard manifest.size == summary.size, chunkTotal == summary.chunkCount else {
            throw r.corrupt("header totals disagree with the members")
        }
        return manifest
    }

    private static func header(_ r: inout ByteReader) throws(StoreError)
        -> (summary: ManifestSummary, source: SourceKind, sourceName: String, aware: Bool) {
        guard try r.bytes(4) == magic else { throw r.corrupt("not a manifest (bad magic)") }
        let version = try r.u16()
        guard version == codecVersion else { throw r.corrupt("manifest codec version \(version) is not supported") }
        let size = Int(try r.u64())
        let memberCount = Int(try r.u32())
        let chunkCount = Int(try r.u64())
        let createdAt = Int64(bitPattern: try r.u64())
        let name = try r.string()
        let versionText = try r.string()
        let ref: VersionRef
        do { ref = try VersionRef(name: name, version: versionText) } catch { throw r.corrupt("bad name or version: \(error)") }
        let sourceTag = try r.u8()
        let format = try r.string()
        let source: SourceKind
        switch sourceTag {
        case 0: source = .file
        case 1: source = .directory
        case 2: source = .archive(format: format)
        default: throw r.corrupt("unknown source kind \(sourceTag)")
        }
        let sourceName = try r.string()
        let aware = try r.u8() & 1 != 0
        return (ManifestSummary(ref: ref, createdAt: createdAt, size: size, memberCount: memberCount, chunkCount: chunkCount),
                source, sourceName, aware)
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}

struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var position = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - position }

    func corrupt(_ why: String) -> StoreError { .corruptManifest(why) }

    mutating func withBytes<T>(_ n: Int, _ body: (UnsafeRawPointer) -> T) throws(StoreError) -> T {
        guard n >= 0, n <= remaining else { throw corrupt("truncated at byte \(position)") }
        defer { position += n }
        return body(buffer.baseAddress! + position)
    }

    mutating func bytes(_ n: Int) throws(StoreError) -> [UInt8] {
        try withBytes(n) { Array(UnsafeRawBufferPointer(start: $0, count: n)) }
    }

    mutating func u8() throws(StoreError) -> UInt8 { try withBytes(1) { $0.load(as: UInt8.self) } }
    mutating func u16() throws(StoreError) -> UInt16 { try withBytes(2) { UInt16(littleEndian: $0.loadUnaligned(as: UInt16.self)) } }
    mutating func u32() throws(StoreError) -> UInt32 { try withBytes(4) { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
    mutating func u64() throws(StoreError) -> UInt64 { try withBytes(8) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }

    mutating func string() throws(StoreError) -> String {
        let n = Int(try u32())
        return try withBytes(n) { String(decoding: UnsafeRawBufferPointer(start: $0, count: n), as: UTF8.self) }
    }
}
