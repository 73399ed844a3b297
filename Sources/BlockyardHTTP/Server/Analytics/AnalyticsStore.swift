import BlockyardStore
import Foundation

/// The day-by-day update counts of `serve --analytics DIR`, in an LMDB environment in DIR
/// (`data.mdb`, `lock.mdb`). It holds nothing but counters: keys are a UTC date and version
/// strings of the release directory, values are little-endian 64-bit counts.
///
/// | database | key | value |
/// |---|---|---|
/// | `versions` | `YYYY-MM-DD` NUL version | full downloads, differential updates, fallbacks, bytes served, bytes a full download would have cost |
/// | `transitions` | `YYYY-MM-DD` NUL from NUL to | differential updates, fallbacks |
/// | `meta` | `format` | `1` |
///
/// Writes add a batch of counts in one transaction (several processes may share DIR).
final class AnalyticsStore: @unchecked Sendable {
    let directory: String
    private let env: LMDBEnvironment
    private let versionsDB: UInt32
    private let transitionsDB: UInt32

    static let format: [UInt8] = Array("1".utf8)

    /// Opens DIR, creating it (and the store) when missing.
    init(directory: String) throws(ServeError) {
        self.directory = directory
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ServeError(.io, "\(directory): cannot create the analytics directory")
            }
        } else if !isDirectory.boolValue {
            throw ServeError(.usage, "\(directory): --analytics needs a directory, this is a file")
        }
        do {
            env = try LMDBEnvironment(path: directory, readOnly: false, maxDatabases: 4)
            try env.openDatabases(["meta", "versions", "transitions"], create: true)
            let meta = env.database("meta")
            let found: [UInt8]? = try env.read { txn in try txn.get(meta, Array("format".utf8)).map { Array($0) } }
            if let found, found != Self.format {
                throw ServeError(.invalidData, "\(directory): analytics format \(String(decoding: found, as: UTF8.self)) is not supported (this build reads 1)")
            }
            if found == nil { _ = try env.write { txn in try txn.put(meta, Array("format".utf8), Self.format) } }
        } catch let error as ServeError {
            throw error
        } catch {
            throw ServeError(.io, "\(directory): cannot open the analytics store: \(error)")
        }
        versionsDB = env.database("versions")
        transitionsDB = env.database("transitions")
    }

    /// Refuses a store that the server would serve as files: inside the release directory
    /// and not under a hidden (`.`) directory.
    /// Checked before anything is created: the real path of the deepest existing ancestor
    /// plus the components still to be made.
    static func checkNotServed(_ directory: String, root: String) throws(ServeError) {
        var existing = (directory as NSString).standardizingPath
        var missing: [String] = []
        while ReleaseServer.realPath(existing) == nil && existing != "/" && !existing.isEmpty {
            missing.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
            if existing.isEmpty { existing = "." }
        }
        guard var real = ReleaseServer.realPath(existing) else { return }
        for component in missing { real += (real.hasSuffix("/") ? "" : "/") + component }
        guard real == root || real.hasPrefix(root + "/") else { return }
        let inside = real.dropFirst(root.count).split(separator: "/")
        guard !inside.contains(where: { $0.hasPrefix(".") }) else { return }
        throw ServeError(.usage, "\(directory): the analytics directory is inside the release directory, where it would be served (use a directory outside it, or one starting with '.')")
    }

    /// Adds every count of `tally` in one write transaction, and makes it durable.
    func add(_ tally: AnalyticsTally) throws {
        guard !tally.isEmpty else { return }
        try env.write { txn in
            for (key, counts) in tally.versions {
                let k = Self.key(key.date, [key.version])
                var fields = counts.fields
                if let old = try txn.get(versionsDB, k), let decoded = Self.decode(old, count: fields.count) {
                    for i in fields.indices { fields[i] &+= decoded[i] }
                }
                try txn.put(versionsDB, k, Self.encode(fields))
            }
            for (key, counts) in tally.transitions {
                let k = Self.key(key.date, [key.from, key.to])
                var fields = [counts.differential, counts.fallbacks]
                if let old = try txn.get(transitionsDB, k), let decoded = Self.decode(old, count: 2) {
                    fields[0] &+= decoded[0]
                    fields[1] &+= decoded[1]
                }
                try txn.put(transitionsDB, k, Self.encode(fields))
            }
        }
        try env.sync()
    }

    /// The counts of the days `query` covers.
    func tally(_ query: AnalyticsQuery) throws -> AnalyticsTally {
        var tally = AnalyticsTally()
        let from = query.since.map { Array($0.description.utf8) }
        try env.read { txn in
            try txn.forEach(versionsDB, from: from) { key, value in
                guard let (date, parts) = Self.parse(key, parts: 1) else { return true }
                if let until = query.until, date > until { return false }
                if let fields = Self.decode(value, count: AnalyticsTally.VersionCounts.fieldCount) {
                    tally.versions[.init(date: date, version: parts[0]), default: .init()].add(.init(fields: fields))
                }
                return true
            }
            try txn.forEach(transitionsDB, from: from) { key, value in
                guard let (date, parts) = Self.parse(key, parts: 2) else { return true }
                if let until = query.until, date > until { return false }
                if let fields = Self.decode(value, count: 2) {
                    var counts = AnalyticsTally.TransitionCounts()
                    counts.differential = fields[0]
                    counts.fallbacks = fields[1]
                    tally.transitions[.init(date: date, from: parts[0], to: parts[1]), default: .init()].add(counts)
                }
                return true
            }
        }
        return tally
    }

    /// Deletes the counts of the days before `date`; returns how many entries went.
    @discardableResult
    func prune(before date: AnalyticsDate) throws -> Int {
        let limit = Array(date.description.utf8)
        return try env.write { txn in
            var removed = 0
            for db in [versionsDB, transitionsDB] {
                var doomed: [[UInt8]] = []
                try txn.forEach(db) { key, _ in
                    let prefix = Array(key.prefix(10))
                    guard prefix.lexicographicallyPrecedes(limit) else { return false }
                    doomed.append(Array(key))
                    return true
                }
                for key in doomed {
                    if try txn.delete(db, key) { removed += 1 }
                }
            }
            return removed
        }
    }

    static func key(_ date: AnalyticsDate, _ parts: [String]) -> [UInt8] {
        var key = Array(date.description.utf8)
        for part in parts {
            key.append(0)
            key += Array(part.utf8)
        }
        return key
    }

    static func parse(_ key: UnsafeRawBufferPointer, parts count: Int) -> (AnalyticsDate, [String])? {
        let fields = key.split(separator: 0, maxSplits: count, omittingEmptySubsequences: false)
        guard fields.count == count + 1, let date = AnalyticsDate(String(decoding: fields[0], as: UTF8.self)) else { return nil }
        return (date, fields.dropFirst().map { String(decoding: $0, as: UTF8.self) })
    }

    static func encode(_ fields: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fields.count * 8)
        for value in fields { for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) } }
        return out
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [UInt64]? {
        guard bytes.count >= count * 8 else { return nil }
        return (0..<count).map { i in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i * 8 + $1]) << UInt64($1 * 8) }
        }
    }
}
