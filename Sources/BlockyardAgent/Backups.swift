import Foundation

/// A kept copy of an installed version (`backups/NNNNNN-VERSION/`): `backup.json` describes it,
/// `payload` is the file or bundle directory as it was installed.
public struct Backup: Codable, Equatable, Sendable {
    public var version: String
    public var installed: InstalledVersion
    public var createdAt: String
    /// The backup's directory (not stored; filled in when listed).
    public var path: String = ""

    enum CodingKeys: String, CodingKey {
        case version, installed
        case createdAt = "created_at"
    }

    public var payload: String { path + "/payload" }
}

/// The backups directory: created atomically (built under a `.tmp-` name, renamed when
/// complete), listed newest first, pruned to `backup_count`.
struct BackupShelf {
    let directory: String

    /// Complete backups, newest first. Incomplete ones (a crash while copying) are removed.
    func list() -> [Backup] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var backups: [(Int, Backup)] = []
        for entry in entries {
            let path = directory + "/" + entry
            if entry.hasPrefix(".tmp-") {
                FileOperations.remove(path)
                continue
            }
            guard let sequence = Int(entry.prefix { $0 != "-" }),
                  let data = FileManager.default.contents(atPath: path + "/backup.json"),
                  var backup = try? JSONDecoder().decode(Backup.self, from: data),
                  FileOperations.exists(path + "/payload") else { continue }
            backup.path = path
            backups.append((sequence, backup))
        }
        return backups.sorted { $0.0 > $1.0 }.map(\.1)
    }

    /// Keeps `installed` (now at `installPath`) as the newest backup.
    func create(of installed: InstalledVersion, from installPath: String, now: Date) throws(AgentError) -> Backup {
        try ensureDirectory()
        let sequence = (list().compactMap { Int(FileOperations.name($0.path).prefix { $0 != "-" }) }.max() ?? 0) + 1
        let name = String(format: "%06d-", sequence) + installed.version
        let temporary = directory + "/.tmp-" + name
        FileOperations.remove(temporary)
        guard mkdir(temporary, 0o755) == 0 else {
            throw AgentError(.cannotCreate, "\(temporary): cannot create the backup directory (\(String(cString: strerror(errno))))")
        }
        do {
            if FileOperations.isDirectory(installPath) {
                try FileOperations.cloneTree(from: installPath, to: temporary + "/payload")
            } else {
                try FileOperations.linkOrCopy(from: installPath, to: temporary + "/payload")
            }
            var backup = Backup(version: installed.version, installed: installed, createdAt: AgentClock.format(now))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try FileOperations.writeAtomically(Array(try encoder.encode(backup)), to: temporary + "/backup.json")
            let final = directory + "/" + name
            guard rename(temporary, final) == 0 else {
                throw AgentError(.io, "\(final): cannot rename the finished backup (\(String(cString: strerror(errno))))")
            }
            FileOperations.fsyncPath(directory)
            backup.path = final
            return backup
        } catch let error as AgentError {
            FileOperations.remove(temporary)
            throw error
        } catch {
            FileOperations.remove(temporary)
            throw AgentError(.io, "\(temporary): \(error)")
        }
    }

    /// Removes the oldest backups beyond `keep`; returns the versions removed.
    func prune(keep: Int) -> [String] {
        let backups = list()
        guard backups.count > keep else { return [] }
        var removed: [String] = []
        for backup in backups[keep...] {
            FileOperations.remove(backup.path)
            removed.append(backup.version)
        }
        FileOperations.fsyncPath(directory)
        return removed
    }

    func ensureDirectory() throws(AgentError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.cannotCreate, "\(directory): cannot create the backups directory")
        }
    }
}
