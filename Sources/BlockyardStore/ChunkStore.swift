import BlockyardCore
import BlockyardIO
import CLMDB
import Foundation

/// The deduplicating content-addressed chunk store: every distinct chunk once, in LMDB,
/// and a manifest per `NAME@VERSION` from which any version is rebuilt byte for byte.
///
/// Open it for reading (never blocks and is never blocked: LMDB readers see a consistent
/// snapshot) or for writing (takes the store's writer lock; one writer at a time).
/// See docs/STORE.md for the layout and the durability rules.
public final class ChunkStore: @unchecked Sendable {
    public enum Access: Sendable {
        case read
        case write
    }

    public struct Options: Sendable {
        /// Map size for a new store, or a size to start from (tests use tiny maps to
        /// exercise growth); nil: 64 MiB for a new store, the recorded size otherwise.
        public var mapSize: Int?
        /// Wait for another writer instead of failing with ``StoreError/locked(path:holder:)``.
        public var waitForLock = false
        /// What the writer lock says about its holder.
        public var purpose = "blockyard"

        public init() {}
    }

    public let path: String
    public let access: Access
    let env: LMDBEnvironment
    let options: Options
    private let writerLock: WriterLock?
    let meta: MDB_dbi
    let chunks: MDB_dbi
    let refs: MDB_dbi
    let manifests: MDB_dbi

    private init(path: String, access: Access, env: LMDBEnvironment, lock: WriterLock?, options: Options) {
        self.path = path
        self.access = access
        self.env = env
        self.writerLock = lock
        self.options = options
        meta = env.database(StoreFormat.Database.meta)
        chunks = env.database(StoreFormat.Database.chunks)
        refs = env.database(StoreFormat.Database.refs)
        manifests = env.database(StoreFormat.Database.manifests)
    }

    // MARK: Opening

    /// The store path from the environment: `$BLOCKYARD_STORE`, else `./.blockyard/store`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let env = environment["BLOCKYARD_STORE"], !env.isEmpty { return env }
        return ".blockyard/store"
    }

    /// Opens an existing store.
    public static func open(at path: String, access: Access, options: Options = Options()) throws(StoreError) -> ChunkStore {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError.missing(path: path)
        }
        guard isDirectory.boolValue else { throw StoreError.notAStore(path: path, reason: "not a directory") }
        guard FileManager.default.fileExists(atPath: path + "/" + StoreFormat.dataFile) else {
            throw StoreError.missing(path: path)
        }
        let lock = access == .write
            ? try WriterLock(directory: path, wait: options.waitForLock, purpose: options.purpose) : nil
        let env = try openEnvironment(path: path, readOnly: access == .read, options: options)
        do {
            try env.openDatabases(StoreFormat.Database.all, create: false)
        } catch let error as LMDBError where error.code == MDB_NOTFOUND {
            throw StoreError.notAStore(path: path, reason: "it has no Blockyard databases (run `blockyard store init`)")
        } catch {
            throw wrap(error, path: path)
        }
        let store = ChunkStore(path: path, access: access, env: env, lock: lock, options: options)
        try store.checkFormat()
        return store
    }

    /// Creates a store at `path` (and its parent directories), or opens the one already there.
    /// Returns the store (open for writing) and whether it was created.
    public static func initialize(at path: String, options: Options = Options()) throws(StoreError) -> (store: ChunkStore, created: Bool) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StoreError.file(FileError(path: path, kind: .other, reason: "cannot create the store directory: \(error.localizedDescription)"))
        }
        let dataExists = FileManager.default.fileExists(atPath: path + "/" + StoreFormat.dataFile)
        if !dataExists {
            let others = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                .filter { $0 != WriterLock.fileName && $0 != "lock.mdb" }
            guard others.isEmpty else {
                throw StoreError.notAStore(path: path, reason: "the directory is not empty (\(others.sorted().prefix(3).joined(separator: ", ")))")
            }
        }
        let lock = try WriterLock(directory: path, wait: options.waitForLock, purpose: "store init")
        var envOptions = options
        if envOptions.mapSize == nil && !dataExists { envOptions.mapSize = LMDBEnvironment.defaultInitialMapSize }
        let env = try openEnvironment(path: path, readOnly: false, options: envOptions)
        var created = false
        do {
            // An LMDB environment that holds other databases is someone else's.
            let foreign: [String] = try env.read { txn in
                var names: [String] = []
                try txn.forEach(MDB_dbi(1)) { key, _ in // MAIN_DBI: the names of the named databases
                    names.append(String(decoding: key, as: UTF8.self))
                    return true
                }
                return names.filter { !StoreFormat.Database.all.contains($0) }
            }
            guard foreign.isEmpty else {
                throw StoreError.notAStore(path: path, reason: "its LMDB environment holds other databases (\(foreign.prefix(3).joined(separator: ", ")))")
            }
            try env.openDatabases(StoreFormat.Database.all, create: true)
            let metaDB = env.database(StoreFormat.Database.meta)
            created = try env.write { txn in
                if try txn.get(metaDB, Array(StoreFormat.MetaKey.formatVersion.utf8)) != nil { return false }
                var version = UInt32(StoreFormat.version).littleEndian
                try withUnsafeBytes(of: &version) { v in
                    _ = try Array(StoreFormat.MetaKey.formatVersion.utf8).withUnsafeBytes { try txn.put(metaDB, $0, v) }
                }
                try txn.put(metaDB, Array(StoreFormat.MetaKey.chunkKey.utf8), Array(StoreFormat.chunkKeyName.utf8))
                try txn.put(metaDB, Array(StoreFormat.MetaKey.chunker.utf8), Array(StoreFormat.chunkerName.utf8))
                var now = Int64(Date().timeIntervalSince1970 * 1000).littleEndian
                try withUnsafeBytes(of: &now) { v in
                    _ = try Array(StoreFormat.MetaKey.createdAt.utf8).withUnsafeBytes { try txn.put(metaDB, $0, v) }
                }
                return true
            }
            try env.sync()
        } catch let error as StoreError {
            throw error
        } catch {
            throw wrap(error, path: path)
        }
        let store = ChunkStore(path: path, access: .write, env: env, lock: lock, options: options)
        try store.checkFormat()
        return (store, created)
    }

    private static func openEnvironment(path: String, readOnly: Bool, options: Options) throws(StoreError) -> LMDBEnvironment {
        do {
            return try LMDBEnvironment(path: path, readOnly: readOnly, mapSize: options.mapSize)
        } catch {
            switch error.code {
            case MDB_INVALID:
                throw StoreError.notAStore(path: path, reason: "\(StoreFormat.dataFile) is not an LMDB file")
            case MDB_VERSION_MISMATCH:
                throw StoreError.notAStore(path: path, reason: "it was written by an incompatible LMDB version")
            case ENOENT:
                throw StoreError.missing(path: path)
            case EACCES, EPERM, EROFS:
                throw StoreError.file(FileError(path: path, errno: error.code, doing: readOnly ? "cannot open the store" : "cannot open the store for writing"))
            default:
                throw StoreError.lmdb(error, path: path)
            }
        }
    }

    /// Refuses stores of another format version, naming what was found.
    private func checkFormat() throws(StoreError) {
        let found: Int? = try guarded { try env.read { txn in
            guard let v = try txn.get(meta, Array(StoreFormat.MetaKey.formatVersion.utf8)), v.count == 4 else { return nil }
            return Int(UInt32(littleEndian: v.loadUnaligned(as: UInt32.self)))
        } }
        guard let found else {
            throw StoreError.notAStore(path: path, reason: "it has no format version (run `blockyard store init`)")
        }
        if found > StoreFormat.version {
            throw StoreError.newerFormat(path: path, found: found, supported: StoreFormat.version)
        }
        if found != StoreFormat.version {
            throw StoreError.notAStore(path: path, reason: "unknown format version \(found)")
        }
    }

    static func wrap(_ error: any Error, path: String) -> StoreError {
        switch error {
        case let e as StoreError: return e
        case let e as LMDBError: return .lmdb(e, path: path)
        case let e as FileError: return .file(e)
        default: return .corruption("\(error)")
        }
    }

    /// Runs `body`, turning any error into a ``StoreError``.
    func guarded<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch { throw Self.wrap(error, path: path) }
    }

    // MARK: Manifests

    /// The manifest of `ref`.
    public func manifest(_ ref: VersionRef) throws(StoreError) -> Manifest {
        try guarded {
            try env.read { txn in
                guard let value = try txn.get(manifests, ref.key) else { throw StoreError.versionNotFound(ref) }
                return try ManifestCodec.decode(value)
            }
        }
    }

    /// Every stored version in key order (name, then version), optionally of one name.
    public func list(name: String? = nil) throws(StoreError) -> [ManifestSummary] {
        try guarded {
            try env.read { txn in
                var out: [ManifestSummary] = []
                let prefix: [UInt8]? = name.map { Array($0.utf8) + [0] }
                try txn.forEach(manifests, from: prefix) { key, value in
                    if let prefix, !key.starts(with: prefix) { return false }
                    out.append(try ManifestCodec.decodeSummary(value))
                    return true
                }
                return out
            }
        }
    }

    // MARK: Test support

    /// Overwrites the stored bytes of a chunk in place, keeping its key: simulated bit rot for
    /// tests of `verify` and of reconstruction. Returns false when there is no such chunk.
    @_spi(Testing)
    public func damageChunkForTesting(_ key: ChunkKey, flipByteAt index: Int = 0) throws -> Bool {
        precondition(access == .write)
        return try env.write { txn in
            guard let value = try key.withUnsafeBytes({ try txn.get(chunks, $0) }), index < value.count else { return false }
            var bytes = Array(value)
            bytes[index] ^= 0xFF
            try key.withUnsafeBytes { k in _ = try bytes.withUnsafeBytes { try txn.put(chunks, k, $0) } }
            return true
        }
    }

    /// Writes another format version into the store (to test how newer stores are refused).
    @_spi(Testing)
    public func setFormatVersionForTesting(_ version: Int) throws {
        precondition(access == .write)
        try env.write { txn in
            var v = UInt32(version).littleEndian
            try withUnsafeBytes(of: &v) { b in
                _ = try Array(StoreFormat.MetaKey.formatVersion.utf8).withUnsafeBytes { try txn.put(meta, $0, b) }
            }
        }
        try env.sync()
    }

    /// Removes a chunk's bytes and record regardless of references (to test that verify
    /// reports manifests pointing at missing chunks).
    @_spi(Testing)
    public func deleteChunkForTesting(_ key: ChunkKey) throws {
        precondition(access == .write)
        try env.write { txn in
            try key.withUnsafeBytes { k in
                try txn.delete(chunks, k)
                try txn.delete(refs, k)
            }
        }
    }

    /// The current map size and how often this process grew it.
    public var mapInfo: (mapSize: Int, usedBytes: Int, growCount: Int) {
        let info = env.info
        return (info.mapSize, info.usedBytes, env.growCount)
    }
}
