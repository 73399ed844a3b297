import CLMDB
import Foundation

/// An LMDB environment (one directory holding `data.mdb` and `lock.mdb`) with named
/// databases, a map that grows when it fills up, and adoption of a map grown by another
/// process.
///
/// Writers open it with `MDB_NOMETASYNC` (and without `MDB_WRITEMAP`): each commit writes
/// and `fdatasync`s its data pages before LMDB writes the meta page that makes them current,
/// and the meta page itself reaches the disk with the next flush. A power loss can therefore
/// undo at most the last commit and never leaves a meta page pointing at pages that are not
/// on disk (LMDB keeps ACI; see docs/STORE.md, "Durability"). ``sync()`` makes the last
/// commit durable too. Without a writable map, a full disk is an error from the commit, not
/// a SIGBUS, and the data file is only as large as the pages in use.
/// Readers open it `MDB_RDONLY`.
///
/// Thread safety: read transactions may run on any thread at the same time (`MDB_NOTLS`);
/// write transactions must be run by one thread at a time. Growing the map needs every
/// transaction of this process closed, which ``TransactionGate`` enforces.
public final class LMDBEnvironment: @unchecked Sendable {
    public let path: String
    public let readOnly: Bool
    let env: OpaquePointer
    private let gate = TransactionGate()
    private var databases: [String: MDB_dbi] = [:]
    private let databaseLock = NSLock()
    /// How many times this process grew the map (for tests and reports).
    public private(set) var growCount = 0

    /// The default starting map of a new store; it grows by half (at least 64 MiB) when full.
    public static let defaultInitialMapSize = 64 << 20

    /// Opens (or, when writable, creates) the environment in directory `path`.
    /// - Parameter mapSize: a map size to start from; nil keeps the size recorded in the store.
    public init(path: String, readOnly: Bool, mapSize: Int? = nil, maxDatabases: Int = 8) throws(LMDBError) {
        self.path = path
        self.readOnly = readOnly
        var handle: OpaquePointer?
        try LMDBError.check(mdb_env_create(&handle), "mdb_env_create")
        env = handle!
        // From here on a throw runs deinit, which closes the environment.
        try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(maxDatabases)), "mdb_env_set_maxdbs")
        if let mapSize {
            try LMDBError.check(mdb_env_set_mapsize(env, mapSize), "mdb_env_set_mapsize")
        }
        var flags = UInt32(MDB_NOTLS)
        if readOnly {
            flags |= UInt32(MDB_RDONLY)
        } else {
            flags |= UInt32(MDB_NOMETASYNC)
        }
        try LMDBError.check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
        // Free the reader slots of processes that died (kill -9) inside a read transaction,
        // so they cannot pin old pages forever.
        var dead: Int32 = 0
        _ = mdb_reader_check(env, &dead)
    }

    deinit { mdb_env_close(env) }

    // MARK: Databases

    /// Opens named databases (creating them when `create` is set; that needs a writable
    /// environment). Throws `MDB_NOTFOUND` when one is missing and `create` is not set.
    public func openDatabases(_ names: [String], create: Bool) throws {
        let open: (LMDBTransaction) throws -> Void = { txn in
            for name in names {
                var dbi: MDB_dbi = 0
                try LMDBError.check(mdb_dbi_open(txn.txn, name, create ? UInt32(MDB_CREATE) : 0, &dbi),
                                    "mdb_dbi_open \(name)")
                self.databaseLock.withLock { self.databases[name] = dbi }
            }
        }
        if create {
            try write(open)
        } else {
            // A read transaction that commits keeps its handles for the environment.
            gate.shared()
            defer { gate.unlock() }
            let txn = try begin(readOnly: true)
            do {
                try open(LMDBTransaction(txn: txn))
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            try LMDBError.check(mdb_txn_commit(txn), "mdb_txn_commit")
        }
    }

    /// The handle of a database opened with ``openDatabases(_:create:)``.
    public func database(_ name: String) -> MDB_dbi {
        guard let dbi = databaseLock.withLock({ databases[name] }) else {
            preconditionFailure("database \(name) was not opened")
        }
        return dbi
    }

    // MARK: Transactions

    /// Runs `body` in a read-only transaction (a consistent snapshot). Buffers returned by
    /// the transaction point into the map and are valid only inside `body`.
    public func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        gate.shared()
        defer { gate.unlock() }
        let txn = try begin(readOnly: true)
        defer { mdb_txn_abort(txn) }
        return try body(LMDBTransaction(txn: txn))
    }

    /// Runs `body` in a write transaction and commits it. When the map is full (in `body` or
    /// at commit), the transaction is aborted, the map grown and `body` run again from the
    /// start, so `body` must not have effects outside the transaction that cannot be redone.
    /// A throwing `body` aborts the transaction.
    public func write<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        precondition(!readOnly, "write transaction on a read-only environment")
        while true {
            gate.shared()
            let txn: OpaquePointer
            do {
                txn = try begin(readOnly: false)
            } catch {
                gate.unlock()
                throw error
            }
            var result: T
            do {
                result = try body(LMDBTransaction(txn: txn))
            } catch let error as LMDBError where error.isMapFull {
                mdb_txn_abort(txn)
                gate.unlock()
                try grow()
                continue
            } catch let error as LMDBError {
                // A put can write pages early (spilling a large transaction's dirty pages).
                mdb_txn_abort(txn)
                gate.unlock()
                throw explained(error)
            } catch {
                mdb_txn_abort(txn)
                gate.unlock()
                throw error
            }
            let rc = mdb_txn_commit(txn) // frees the transaction in every case
            gate.unlock()
            if rc == MDB_MAP_FULL {
                try grow()
                continue
            }
            if rc != 0 { throw explained(LMDBError(rc, "mdb_txn_commit")) }
            return result
        }
    }

    /// Begins a transaction; the caller holds the gate (shared). Adopts a map grown by another
    /// process (`MDB_MAP_RESIZED`) and retries.
    private func begin(readOnly: Bool) throws(LMDBError) -> OpaquePointer {
        var attempts = 0
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
            if rc == 0 { return txn! }
            if rc == MDB_MAP_RESIZED && attempts < 8 {
                attempts += 1
                gate.unlock()
                gate.exclusive()
                let adopt = mdb_env_set_mapsize(env, 0)
                gate.unlock()
                gate.shared()
                try LMDBError.check(adopt, "mdb_env_set_mapsize (adopting a map grown by another process)")
                continue
            }
            throw LMDBError(rc, readOnly ? "mdb_txn_begin (read)" : "mdb_txn_begin (write)")
        }
    }

    // MARK: Map size

    /// Current map size, used bytes and page size.
    public var info: (mapSize: Int, usedBytes: Int, pageSize: Int, lastTransaction: Int, readers: Int) {
        var envInfo = MDB_envinfo()
        mdb_env_info(env, &envInfo)
        var stat = MDB_stat()
        mdb_env_stat(env, &stat)
        let pageSize = Int(stat.ms_psize)
        return (envInfo.me_mapsize, (envInfo.me_last_pgno + 1) * pageSize, pageSize,
                envInfo.me_last_txnid, Int(envInfo.me_numreaders))
    }

    /// Grows the map so that at least `free` bytes lie beyond the last used page, by half the
    /// current size (at least 64 MiB) or more. No transaction of this process may be open.
    public func grow(toFree free: Int = 0) throws(LMDBError) {
        gate.exclusive()
        defer { gate.unlock() }
        let current = info
        let step = max(current.mapSize / 2, 64 << 20)
        var target = max(current.mapSize + step, current.usedBytes + free)
        target = (target + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        try LMDBError.check(mdb_env_set_mapsize(env, target), "mdb_env_set_mapsize \(target)")
        growCount += 1
    }

    /// Grows the map ahead of time when fewer than `bytes` lie beyond the last used page.
    public func reserve(bytes: Int) throws(LMDBError) {
        let current = info
        if current.mapSize - current.usedBytes < bytes {
            try grow(toFree: bytes)
        }
    }

    /// Drops the page cache of `data.mdb` between byte offsets `from` and `to`, for pages that
    /// a commit has already written and synced. A bulk writer calls this for the pages each
    /// commit appended: the cache then holds about one batch of a large import, the kernel
    /// reuses those pages for the next batch instead of taking fresh ones (most of the cost of
    /// writing new pages in a VM that hands free memory back to its host), and other programs
    /// keep their cache. This process's mapping of the range is dropped first (the map is
    /// read-only, so its pages refault from the file when read again), since the kernel keeps
    /// every mapped page, and reading one B-tree page maps its cached neighbours too. The
    /// whole map is marked for random access (as `MDB_NORDAHEAD` would).
    /// A hint only: errors are ignored; no effect outside Linux.
    public func dropCachedPages(from: Int, to: Int) {
        #if os(Linux)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (from + page - 1) / page * page, end = to / page * page
        guard end > start else { return }
        var fd: Int32 = -1
        guard mdb_env_get_fd(env, &fd) == 0, fd >= 0 else { return }
        gate.shared()
        defer { gate.unlock() }
        for map in Self.mappings(of: fd) where end <= map.count {
            // No read-around on this map from now on: a B-tree page read after its range was
            // dropped would otherwise read up to read_ahead_kb of chunk pages back in.
            _ = madvise(map.baseAddress, map.count, MADV_RANDOM)
            _ = madvise(map.baseAddress! + start, end - start, MADV_DONTNEED)
        }
        _ = posix_fadvise(fd, off_t(start), off_t(end - start), Int32(POSIX_FADV_DONTNEED))
        #endif
    }

    /// This process's mappings of the file open as `fd` from its start — LMDB does not publish
    /// the address of its map, and a process may hold the store open twice — found in
    /// /proc/self/maps by device and inode.
    static func mappings(of fd: Int32) -> [UnsafeMutableRawBufferPointer] {
        var found: [UnsafeMutableRawBufferPointer] = []
        #if os(Linux)
        var st = stat()
        guard fstat(fd, &st) == 0, let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return [] }
        for line in maps.split(separator: "\n") {
            // start-end perms offset major:minor inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[2] == "00000000", UInt64(fields[4]) == UInt64(st.st_ino) else { continue }
            let device = fields[3].split(separator: ":")
            guard device.count == 2, let major = UInt32(device[0], radix: 16), let minor = UInt32(device[1], radix: 16),
                  UInt64(major) == (st.st_dev >> 8 & 0xfff) | (st.st_dev >> 32 & ~0xfff),
                  UInt64(minor) == (st.st_dev & 0xff) | (st.st_dev >> 12 & ~0xff) else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let from = UInt(bounds[0], radix: 16), let to = UInt(bounds[1], radix: 16), to > from,
                  let base = UnsafeMutableRawPointer(bitPattern: from) else { continue }
            found.append(UnsafeMutableRawBufferPointer(start: base, count: Int(to - from)))
        }
        #endif
        return found
    }

    /// Flushes everything committed so far to disk (`mdb_env_sync(force)`).
    public func sync() throws(LMDBError) {
        let rc = mdb_env_sync(env, 1)
        if rc != 0 { throw explained(LMDBError(rc, "mdb_env_sync")) }
    }

    /// `error`, or the real cause of an `EIO`. LMDB reports a short write (what a full
    /// filesystem gives once it has taken what fits) as `EIO`, so an `EIO` from a write is
    /// checked with ``StorageProbe``: when the store's filesystem cannot give this process
    /// another 64 KiB, the error is `ENOSPC` (or `EDQUOT`).
    func explained(_ error: LMDBError) -> LMDBError {
        guard error.code == EIO, let cause = StorageProbe.spaceError(in: path) else { return error }
        return LMDBError(cause, error.operation)
    }
}

/// A transaction's view of the databases. Buffers it returns point into the map and are
/// valid until the transaction ends (for writes: until the next change of that key).
public struct LMDBTransaction {
    let txn: OpaquePointer

    /// The value stored under `key`, or nil.
    public func get(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    public func get(_ dbi: MDB_dbi, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { k in try get(dbi, k) }
    }

    /// Stores `value` under `key`. With `noOverwrite`, returns false (and changes nothing)
    /// when the key exists.
    @discardableResult
    public func put(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer,
                    noOverwrite: Bool = false) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(txn, dbi, &k, &v, noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0)
        if rc == MDB_KEYEXIST && noOverwrite { return false }
        try LMDBError.check(rc, "mdb_put")
        return true
    }

    @discardableResult
    public func put(_ dbi: MDB_dbi, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws -> Bool {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in try put(dbi, k, v, noOverwrite: noOverwrite) }
        }
    }

    /// Reserves `count` bytes for `key`'s value and returns them for the caller to fill
    /// (`MDB_RESERVE`: the data is copied once, straight into the map). Returns nil when the
    /// key exists and `noOverwrite` is set.
    public func reserve(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer, count: Int,
                        noOverwrite: Bool = true) throws(LMDBError) -> UnsafeMutableRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: count, mv_data: nil)
        var flags = UInt32(MDB_RESERVE)
        if noOverwrite { flags |= UInt32(MDB_NOOVERWRITE) }
        let rc = mdb_put(txn, dbi, &k, &v, flags)
        if rc == MDB_KEYEXIST && noOverwrite { return nil }
        try LMDBError.check(rc, "mdb_put (reserve)")
        return UnsafeMutableRawBufferPointer(start: v.mv_data, count: count)
    }

    /// Deletes `key`; false when it was not there.
    @discardableResult
    public func delete(_ dbi: MDB_dbi, _ key: UnsafeRawBufferPointer) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(txn, dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try LMDBError.check(rc, "mdb_del")
        return true
    }

    @discardableResult
    public func delete(_ dbi: MDB_dbi, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { k in try delete(dbi, k) }
    }

    /// Calls `body` with each key and value in key order, starting at the first key ≥ `from`
    /// (or the first key), until `body` returns false.
    public func forEach(_ dbi: MDB_dbi, from: [UInt8]? = nil,
                        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var rc: Int32
        if let from {
            rc = from.withUnsafeBytes { f in
                k = MDB_val(mv_size: f.count, mv_data: UnsafeMutableRawPointer(mutating: f.baseAddress))
                return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            }
        } else {
            rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        }
        while rc == 0 {
            let goOn = try body(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !goOn { return }
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { throw LMDBError(rc, "mdb_cursor_get") }
    }

    /// Number of entries in a database.
    public func count(_ dbi: MDB_dbi) throws(LMDBError) -> Int {
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(txn, dbi, &stat), "mdb_stat")
        return stat.ms_entries
    }
}

/// A read/write lock around this process's transactions: transactions hold it shared, and
/// changing the map size (which LMDB allows only with no transaction open in the process)
/// holds it exclusively.
final class TransactionGate: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func shared() { pthread_rwlock_rdlock(lock) }
    func exclusive() { pthread_rwlock_wrlock(lock) }
    func unlock() { pthread_rwlock_unlock(lock) }
}
