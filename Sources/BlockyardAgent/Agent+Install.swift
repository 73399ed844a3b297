import BlockyardCore
import BlockyardIO
import Foundation

/// What an install or rollback did.
public struct InstallResult: Encodable, Sendable {
    /// `installed`, `rolled-back` (health check failed: the previous version is back),
    /// or `restored` (a rollback).
    public var status: String
    public var version: String
    public var previousVersion: String?
    public var backup: String?
    public var healthCheck: String?
    public var prunedBackups: [String]

    enum CodingKeys: String, CodingKey {
        case status, version, backup
        case previousVersion = "previous_version"
        case healthCheck = "health_check"
        case prunedBackups = "pruned_backups"
    }
}

extension Agent {
    /// Installs the downloaded version: verifies every file on disk again, keeps the current
    /// version as a backup, swaps the new file or directory in atomically, records it, then
    /// runs the health command; if that fails, the backup is restored and the version is
    /// remembered as failed. Backups beyond `backup_count` are removed at the end.
    public func install(healthCommand: String? = nil, now: Date = Date()) throws(AgentError) -> InstallResult {
        try lockedSync("install") { (state: inout AgentState) throws(AgentError) -> InstallResult in
            try self.install(&state, healthCommand: healthCommand ?? config.healthCommand, now: now)
        }
    }

    func install(_ state: inout AgentState, healthCommand: String?, now: Date) throws(AgentError) -> InstallResult {
        guard let downloaded = state.downloaded else {
            throw AgentError(.missingInput, "nothing is downloaded: run `blockyard agent download` first")
        }
        let directory = versionDirectory(downloaded.version)
        for file in downloaded.files {
            let path = directory + "/" + file.name
            let digests: FileDigests
            do {
                digests = try Self.hash(path)
            } catch {
                state.downloaded = nil
                throw AgentError(.checkFailed, "the download of \(downloaded.version) is incomplete (\(error.message)): download it again")
            }
            guard digests.sha512.base64 == file.sha512, digests.size == file.size else {
                state.downloaded = nil
                FileOperations.remove(directory)
                throw AgentError(.checkFailed, "\(path): the downloaded file changed since it was verified (SHA-512 mismatch): download it again")
            }
        }
        let previous = state.installed
        let target = InstalledVersion(version: downloaded.version, channel: downloaded.channel, files: downloaded.files,
                                      installedAt: AgentClock.format(now))
        let staged = stagedPath()
        FileOperations.remove(staged)
        var pending = PendingOperation(operation: "install", fromVersion: previous?.version, toVersion: downloaded.version,
                                       target: target, stagedPath: staged, stagedInode: nil, backup: nil,
                                       startedAt: AgentClock.format(now))
        state.pending = pending
        try saveState(state)

        // 1. Backup of what is installed now.
        var backup: Backup?
        if let previous, FileOperations.exists(config.installPath) {
            backup = try backups.create(of: previous, from: config.installPath, now: now)
            pending.backup = backup?.path
        }
        FaultInjection.point("install:backup")
        // 2. The new version staged beside the install path.
        switch config.kind {
        case .file:
            try FileOperations.linkOrCopy(from: directory + "/" + downloaded.files[0].name, to: staged)
        case .bundle:
            try FileOperations.cloneTree(from: directory, to: staged)
            // Only the release's files: nothing left over from partial downloads.
            let names = Set(downloaded.files.map(\.name))
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: staged)) ?? [] where !names.contains(entry) {
                FileOperations.remove(staged + "/" + entry)
            }
        }
        FileOperations.fsyncPath(FileOperations.parent(staged))
        pending.stagedInode = FileOperations.inode(staged)
        state.pending = pending
        try saveState(state)
        FaultInjection.point("install:staged")
        // 3. The swap, then the record.
        try swapStaged(&state, pending)

        // 4. Health check.
        var health: String?
        if let healthCommand {
            do {
                try HealthCheck(command: healthCommand).run(version: target.version, installPath: config.installPath,
                                                            previousVersion: previous?.version)
                health = "passed"
            } catch {
                if !state.failedVersions.contains(target.version) { state.failedVersions.append(target.version) }
                guard let backup else {
                    state.record("health-check", version: target.version, "failed, and there is no backup to roll back to: \(error.message)")
                    throw AgentError(.checkFailed, "\(error.message); nothing was installed before, so there is nothing to roll back to")
                }
                state.record("health-check", version: target.version, "failed: \(error.message)")
                try restore(backup, &state, now: now)
                throw AgentError(.checkFailed, "\(error.message): rolled back to \(backup.version)")
            }
        }
        let pruned = backups.prune(keep: config.backupCount)
        return InstallResult(status: "installed", version: target.version, previousVersion: previous?.version,
                             backup: backup?.path, healthCheck: health, prunedBackups: pruned)
    }

    /// Restores the newest backup atomically; the backup is consumed (it is what is installed).
    public func rollback(now: Date = Date()) throws(AgentError) -> InstallResult {
        try lockedSync("rollback") { (state: inout AgentState) throws(AgentError) -> InstallResult in
            guard let backup = backups.list().first else {
                throw AgentError(.missingInput, "there is no backup to roll back to")
            }
            let from = state.installed?.version
            try restore(backup, &state, now: now)
            return InstallResult(status: "restored", version: backup.version, previousVersion: from, backup: backup.path,
                                 healthCheck: nil, prunedBackups: [])
        }
    }

    func restore(_ backup: Backup, _ state: inout AgentState, now: Date) throws(AgentError) {
        let staged = stagedPath()
        FileOperations.remove(staged)
        var target = backup.installed
        target.installedAt = AgentClock.format(now)
        var pending = PendingOperation(operation: "rollback", fromVersion: state.installed?.version, toVersion: backup.version,
                                       target: target, stagedPath: staged, stagedInode: nil, backup: backup.path,
                                       startedAt: AgentClock.format(now))
        state.pending = pending
        try saveState(state)
        if FileOperations.isDirectory(backup.payload) {
            try FileOperations.cloneTree(from: backup.payload, to: staged)
        } else {
            try FileOperations.linkOrCopy(from: backup.payload, to: staged)
        }
        // The backup must still be what was installed.
        for file in target.files {
            let path = config.kind == .file ? staged : staged + "/" + file.name
            let digests = try Self.hash(path)
            guard digests.sha512.base64 == file.sha512, digests.size == file.size else {
                FileOperations.remove(staged)
                state.pending = nil
                throw AgentError(.checkFailed, "backup \(backup.path): \(file.name) no longer matches its SHA-512: not restored")
            }
        }
        FileOperations.fsyncPath(FileOperations.parent(staged))
        pending.stagedInode = FileOperations.inode(staged)
        state.pending = pending
        try saveState(state)
        FaultInjection.point("rollback:staged")
        try swapStaged(&state, pending)
    }

    /// Puts the staged file or directory at the install path and records the result.
    private func swapStaged(_ state: inout AgentState, _ pending: PendingOperation) throws(AgentError) {
        let exchanged = try FileOperations.swap(staged: pending.stagedPath, into: config.installPath)
        FaultInjection.point("\(pending.operation):swapped")
        if exchanged { FileOperations.remove(pending.stagedPath) }
        commit(&state, pending)
        try saveState(state)
    }

    /// Records a finished swap.
    private func commit(_ state: inout AgentState, _ pending: PendingOperation, recovered: Bool = false) {
        state.installed = pending.target
        state.pending = nil
        let note = recovered ? " (finished after an interruption)" : ""
        switch pending.operation {
        case "install":
            state.downloaded = nil
            FileOperations.remove(versionDirectory(pending.toVersion))
            state.record("install", version: pending.toVersion, "replaced \(pending.fromVersion ?? "nothing")\(note)")
        default:
            if let backup = pending.backup { FileOperations.remove(backup) }
            state.record("rollback", version: pending.toVersion, "replaced \(pending.fromVersion ?? "nothing")\(note)")
        }
    }

    /// The temporary name of a new file or directory beside the install path.
    func stagedPath() -> String {
        FileOperations.parent(config.installPath) + "/." + FileOperations.name(config.installPath) + ".blockyard-new"
    }

    /// Finishes or undoes an install or rollback that a crash interrupted: if the install path
    /// holds the staged inode, the swap happened and is recorded; otherwise nothing changed
    /// there, and the staged copy (and a backup made for it) is removed.
    func recover(_ state: inout AgentState) throws(AgentError) {
        guard let pending = state.pending else { return }
        if let inode = pending.stagedInode, FileOperations.inode(config.installPath) == inode {
            // A directory exchange leaves the old directory at the staged path.
            if FileOperations.exists(pending.stagedPath) && FileOperations.inode(pending.stagedPath) != inode {
                FileOperations.remove(pending.stagedPath)
            }
            commit(&state, pending, recovered: true)
        } else {
            FileOperations.remove(pending.stagedPath)
            if pending.operation == "install" {
                // The backup made for this install (recorded, or made just before the crash).
                if let backup = pending.backup { FileOperations.remove(backup) }
                for backup in backups.list() where backup.createdAt == pending.startedAt && backup.version == pending.fromVersion {
                    FileOperations.remove(backup.path)
                }
            }
            state.pending = nil
            state.record("recover", version: pending.toVersion, "interrupted \(pending.operation) undone; \(state.installed?.version ?? "nothing") stays installed")
        }
        _ = backups.list() // removes half-made backups
        try saveState(state)
    }
}
