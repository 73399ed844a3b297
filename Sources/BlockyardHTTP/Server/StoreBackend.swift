import BlockyardCore
import BlockyardIO
import BlockyardStore
import Foundation

/// Serving artifacts straight from a chunk store (`blockyard serve --store PATH`), so the
/// release directory needs only its channel files and `release.json` manifests.
///
/// The mapping is by content: an artifact `releases/V/NAME` that `releases/V/release.json`
/// lists with SHA-512 `S` and size `N` is the stored member (of any `NAME@VERSION`, any
/// member path) whose SHA-512 is `S` and size `N`. Ranges read only the chunks they overlap,
/// straight from the store's memory map.
///
/// This is an adapter over the store's public pieces (the LMDB environment, the manifest
/// codec) until `ChunkStore` offers a public ranged read: the store is validated by opening it
/// with ``ChunkStore/open(at:access:options:)`` once, then read through its own read-only
/// environment (LMDB forbids two environments on one store in one process at the same time,
/// so the `ChunkStore` is closed first). Database names are those of docs/STORE.md.
final class StoreBackend: @unchecked Sendable {
    /// A stored regular file that an artifact maps to.
    struct Member: Sendable {
        let ref: VersionRef
        let path: String
        let size: Int
        let sha512: Digest
        let sha256: Digest
        /// When the version was stored (milliseconds since 1970).
        let createdAt: Int64
    }

    /// A member with its chunk list and the end offset of every chunk (for ranged reads).
    final class LoadedMember: @unchecked Sendable {
        let member: Member
        let manifestMember: ManifestMember
        let chunkEnds: [Int]

        init(member: Member, manifestMember: ManifestMember) {
            self.member = member
            self.manifestMember = manifestMember
            var ends: [Int] = []
            ends.reserveCapacity(manifestMember.chunks.count)
            var total = 0
            for chunk in manifestMember.chunks {
                total += chunk.size
                ends.append(total)
            }
            chunkEnds = ends
        }

        /// Index of the chunk holding byte `offset`.
        func chunkIndex(containing offset: Int) -> Int {
            var low = 0, high = chunkEnds.count - 1
            while low < high {
                let mid = (low + high) / 2
                if chunkEnds[mid] > offset { high = mid } else { low = mid + 1 }
            }
            return low
        }
    }

    private struct IndexKey: Hashable {
        let sha512: [UInt8]
        let size: Int
    }

    let path: String
    private let env: LMDBEnvironment
    private let chunksDatabase: UInt32
    private let manifestsDatabase: UInt32
    private let lock = NSLock()
    private var index: [IndexKey: Member] = [:]
    private var lastScan: TimeInterval = -.infinity
    private var loaded: [String: LoadedMember] = [:]
    private var loadedOrder: [String] = []
    private static let loadedLimit = 32

    /// Opens the store at `path` for reading and indexes its members by content.
    init(path: String) throws(StoreError) {
        self.path = path
        // Validates: exists, is a Blockyard store, a supported format version.
        do {
            _ = try ChunkStore.open(at: path, access: .read)
        }
        do {
            env = try LMDBEnvironment(path: path, readOnly: true)
            try env.openDatabases([Self.chunksName, Self.manifestsName], create: false)
        } catch let error as LMDBError {
            throw StoreError.lmdb(error, path: path)
        } catch {
            throw StoreError.notAStore(path: path, reason: "\(error)")
        }
        chunksDatabase = env.database(Self.chunksName)
        manifestsDatabase = env.database(Self.manifestsName)
        try rescan()
    }

    static let chunksName = "chunks"
    static let manifestsName = "manifests"

    /// Number of indexed members.
    var memberCount: Int { lock.withLock { index.count } }

    /// Re-reads every manifest and rebuilds the content index.
    func rescan() throws(StoreError) {
        var newIndex: [IndexKey: Member] = [:]
        do {
            try env.read { txn in
                try txn.forEach(manifestsDatabase) { _, value in
                    let manifest = try ManifestCodec.decode(value)
                    for member in manifest.members where member.kind == .regular {
                        let key = IndexKey(sha512: member.sha512.bytes, size: member.size)
                        if newIndex[key] == nil {
                            newIndex[key] = Member(ref: manifest.ref, path: member.path, size: member.size,
                                                   sha512: member.sha512, sha256: member.sha256, createdAt: manifest.createdAt)
                        }
                    }
                    return true
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as LMDBError {
            throw StoreError.lmdb(error, path: path)
        } catch {
            throw StoreError.corruption("\(error)")
        }
        lock.withLock {
            index = newIndex
            lastScan = ProcessInfo.processInfo.systemUptime
        }
    }

    /// The stored member with this content; rescans the store (at most once a second) when
    /// none is indexed, so versions stored while serving are found.
    func member(sha512: [UInt8], size: Int) -> Member? {
        let key = IndexKey(sha512: sha512, size: size)
        let (found, age) = lock.withLock { (index[key], ProcessInfo.processInfo.systemUptime - lastScan) }
        if let found { return found }
        guard age >= 1 else { return nil }
        try? rescan()
        return lock.withLock { index[key] }
    }

    /// The member with its chunk list (cached for the most recently used members).
    func load(_ member: Member) throws(StoreError) -> LoadedMember {
        let cacheKey = "\(member.ref.name)\u{0}\(member.ref.version)\u{0}\(member.path)"
        if let hit = lock.withLock({ loaded[cacheKey] }) { return hit }
        let key = Array(member.ref.name.utf8) + [0] + Array(member.ref.version.utf8)
        let manifest: Manifest
        do {
            manifest = try env.read { txn in
                guard let value = try txn.get(manifestsDatabase, key) else { throw StoreError.versionNotFound(member.ref) }
                return try ManifestCodec.decode(value)
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.corruption("\(error)")
        }
        guard let manifestMember = manifest.member(member.path), manifestMember.sha512 == member.sha512 else {
            throw StoreError.memberNotFound(member.ref, member: member.path)
        }
        let result = LoadedMember(member: member, manifestMember: manifestMember)
        lock.withLock {
            loaded[cacheKey] = result
            loadedOrder.removeAll { $0 == cacheKey }
            loadedOrder.append(cacheKey)
            if loadedOrder.count > Self.loadedLimit { loaded[loadedOrder.removeFirst()] = nil }
        }
        return result
    }

    /// A byte source reading `member` from its chunks.
    func source(_ member: LoadedMember) -> any ByteSource {
        StoreMemberSource(backend: self, member: member)
    }

    /// Copies `member`'s bytes at `offset` into `buffer`, reading only the chunks that overlap.
    fileprivate func read(_ member: LoadedMember, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard offset >= 0, offset + buffer.count <= member.member.size else {
            throw SourceReadError(description: "read beyond the end of \(member.member.ref) \(member.member.path)")
        }
        if buffer.isEmpty { return }
        let chunks = member.manifestMember.chunks
        try env.read { txn in
            var index = member.chunkIndex(containing: offset)
            var position = offset
            var written = 0
            while written < buffer.count {
                let chunk = chunks[index]
                let chunkStart = member.chunkEnds[index] - chunk.size
                guard let value = try chunk.key.withUnsafeBytes({ try txn.get(chunksDatabase, $0) }) else {
                    throw SourceReadError(description: "store \(path): \(member.member.ref) \(member.member.path): chunk \(chunk.key.hex) is missing")
                }
                guard value.count == chunk.size else {
                    throw SourceReadError(description: "store \(path): chunk \(chunk.key.hex) has \(value.count) bytes, the manifest says \(chunk.size)")
                }
                let from = position - chunkStart
                let take = min(chunk.size - from, buffer.count - written)
                UnsafeMutableRawBufferPointer(rebasing: buffer[written..<(written + take)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: value[from..<(from + take)]))
                written += take
                position += take
                index += 1
            }
        }
    }
}

private struct StoreMemberSource: ByteSource {
    let backend: StoreBackend
    let member: StoreBackend.LoadedMember

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        try backend.read(member, offset: offset, into: buffer)
    }
}
