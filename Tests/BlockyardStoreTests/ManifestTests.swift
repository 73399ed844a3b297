import BlockyardCore
@testable import BlockyardStore
import Testing

@Suite("Manifests and references")
struct ManifestTests {
    static func sample() -> Manifest {
        let a = [UInt8](repeating: 7, count: 10)
        let chunk = a.withUnsafeBytes { ManifestChunk(key: ChunkKey(of: $0), checksum: ChunkChecksum(of: $0), size: 10) }
        let regular = ManifestMember(path: "dir/model.safetensors", mode: 0o755, kind: .regular, size: 20,
                                     sha512: SHA2Hasher.hash(.sha512, a + a), sha256: SHA2Hasher.hash(.sha256, a + a),
                                     chunks: [chunk, chunk], endsOnCut: true, forcedCuts: 3, boundaryFormat: .safetensors)
        let link = ManifestMember(path: "latest", mode: 0o777, kind: .symlink(target: "dir/model.safetensors"), size: 0,
                                  sha512: SHA2Hasher.hash(.sha512, []), sha256: SHA2Hasher.hash(.sha256, []),
                                  chunks: [], endsOnCut: true, forcedCuts: 0, boundaryFormat: nil)
        return Manifest(ref: try! VersionRef(name: "@scope/model", version: "1.0.0-rc.1"), createdAt: 1_790_000_000_123,
                        source: .archive(format: "tar.gz"), sourceName: "model.tar.gz", aware: true, members: [regular, link])
    }

    @Test func roundTrip() throws {
        let manifest = Self.sample()
        let bytes = ManifestCodec.encode(manifest)
        let decoded = try bytes.withUnsafeBytes { try ManifestCodec.decode($0) }
        #expect(decoded == manifest)
        let summary = try bytes.withUnsafeBytes { try ManifestCodec.decodeSummary($0) }
        #expect(summary == ManifestSummary(ref: manifest.ref, createdAt: manifest.createdAt, size: 20, memberCount: 2, chunkCount: 2))
        #expect(decoded.sameContent(as: manifest))
    }

    @Test func truncatedOrAlteredManifestsAreRejected() {
        let bytes = ManifestCodec.encode(Self.sample())
        for cut in [0, 3, 10, bytes.count / 2, bytes.count - 1] {
            #expect(throws: StoreError.self) { try Array(bytes[0..<cut]).withUnsafeBytes { try ManifestCodec.decode($0) } }
        }
        var extra = bytes
        extra.append(0)
        #expect(throws: StoreError.self) { try extra.withUnsafeBytes { try ManifestCodec.decode($0) } }
        var badMagic = bytes
        badMagic[0] = UInt8(ascii: "X")
        #expect(throws: StoreError.self) { try badMagic.withUnsafeBytes { try ManifestCodec.decode($0) } }
    }

    @Test func versionReferences() throws {
        let scoped = try VersionRef(parsing: "@scope/pkg@1.2.3")
        #expect(scoped.name == "@scope/pkg" && scoped.version == "1.2.3")
        #expect(try VersionRef(parsing: "model@v2").description == "model@v2")
        for bad in ["model", "@1.0", "model@", "mo\ndel@1", "a@b\u{7}"] {
            #expect(throws: StoreError.self) { try VersionRef(parsing: bad) }
        }
        // The manifest key sorts by name, then version.
        #expect(try VersionRef(parsing: "a@2") < VersionRef(parsing: "ab@1"))
    }

    @Test func chunkRecordEncoding() {
        let checksum = [UInt8](repeating: 1, count: 3).withUnsafeBytes { ChunkChecksum(of: $0) }
        let record = ChunkRecord(refcount: 1 << 40, size: 32768, checksum: checksum)
        let decoded = record.encoded.withUnsafeBytes { ChunkRecord(decoding: $0) }
        #expect(decoded == record)
        #expect([UInt8](repeating: 0, count: 29).withUnsafeBytes { ChunkRecord(decoding: $0) } == nil)
    }

    @Test func chunkKeyIsSHA256() {
        let data = Array("abc".utf8)
        let key = data.withUnsafeBytes { ChunkKey(of: $0) }
        #expect(key.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ChunkKey(hex: key.hex) == key)
        // Byte order, as LMDB sorts keys.
        let low = ChunkKey([0x00] + [UInt8](repeating: 0xFF, count: 31))!
        let high = ChunkKey([0x01] + [UInt8](repeating: 0x00, count: 31))!
        #expect(low < high)
    }
}
