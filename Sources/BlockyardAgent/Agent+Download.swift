import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import Foundation

/// What a download did.
public struct DownloadResult: Encodable, Sendable {
    /// `downloaded`, `already-downloaded`, `up-to-date` or `not-offered`.
    public var status: String
    public var version: String
    public var reason: String?
    public var files: [AgentFile]
    public var bytesFetched: Int
    public var bytesReused: Int
    public var requests: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case status, version, reason, files, requests, seconds
        case bytesFetched = "bytes_fetched"
        case bytesReused = "bytes_reused"
    }
}

/// Receives download progress (the CLI draws a bar; the REST server's status reads the
/// progress file every process writes).
public protocol AgentProgressObserver: Sendable {
    func progress(_ progress: DownloadProgress)
}

extension Agent {
    /// Downloads the version the channel offers (checking it again first) into
    /// `downloads/VERSION/`, differentially: each file is planned against the installed file of
    /// the same name (bundle files whose SHA-512 is unchanged are not downloaded at all), the
    /// ranges are fetched by the update client (parallel, retried, resumable after a crash or
    /// kill), and every file is verified (SHA-512 on disk) before the download is recorded.
    public func download(observer: (any AgentProgressObserver)? = nil, now: Date = Date()) async throws(AgentError) -> DownloadResult {
        try await locked("download") { (state: inout AgentState) async throws(AgentError) -> DownloadResult in
            try await self.download(&state, observer: observer, now: now)
        }
    }

    func download(_ state: inout AgentState, observer: (any AgentProgressObserver)?, now: Date) async throws(AgentError) -> DownloadResult {
        let started = ContinuousClock.now
        _ = try await check(&state, now: now)
        guard let available = state.available else { throw AgentError(.invalidData, "no update information") }
        guard available.isOffered else {
            let status = available.decision == UpdateDecision.Outcome.upToDate.rawValue ? "up-to-date" : "not-offered"
            return DownloadResult(status: status, version: available.version, reason: available.reason, files: [],
                                  bytesFetched: 0, bytesReused: 0, requests: 0, seconds: Self.seconds(since: started))
        }
        if let done = state.downloaded, done.version == available.version, done.files == available.files,
           done.files.allSatisfy({ FileOperations.isRegularFile(versionDirectory(done.version) + "/" + $0.name) }) {
            return DownloadResult(status: "already-downloaded", version: done.version, reason: nil, files: done.files,
                                  bytesFetched: 0, bytesReused: 0, requests: 0, seconds: Self.seconds(since: started))
        }
        state.downloaded = nil
        try saveState(state)
        removeOtherDownloads(keeping: available.version)
        let directory = versionDirectory(available.version)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AgentError(.cannotCreate, "\(directory): cannot create the download directory")
        }

        let version = available.version
        let total = available.files.reduce(0) { $0 + max(0, $1.size) }
        let reporter = ProgressWriter(path: progressPath, version: version, total: total,
                                      files: available.files.count, observer: observer, now: now)
        defer { reporter.finish() }
        var fetched = 0
        var reused = 0
        var requests = 0
        var method: [String] = []
        // Files whose SHA-512 was already checked on disk in this run (the update client reads
        // back what it wrote before renaming it; complete leftovers are hashed below).
        var verified: Set<String> = []
        // Files taken from the installed bundle, by name: the installed path they came from.
        var takenFromInstalled: [String: String] = [:]
        for file in available.files {
            let out = directory + "/" + file.name
            reporter.startFile(file.name)
            // Already complete (an earlier, interrupted run of this download).
            if FileOperations.isRegularFile(out), let digests = try? Self.hash(out),
               digests.sha512.base64 == file.sha512, digests.size == file.size {
                verified.insert(file.name)
                reporter.finishFile(size: file.size)
                continue
            }
            FileOperations.remove(out)
            // Unchanged bundle file: taken from the installed bundle.
            if config.kind == .bundle, let installed = state.installed,
               let same = installed.files.first(where: { $0.sha512 == file.sha512 && $0.size == file.size }),
               FileOperations.isRegularFile(config.installPath + "/" + same.name) {
                try FileOperations.linkOrCopy(from: config.installPath + "/" + same.name, to: out)
                takenFromInstalled[file.name] = config.installPath + "/" + same.name
                reused += file.size
                method.append("\(file.name): unchanged")
                reporter.finishFile(size: file.size)
                continue
            }
            let seed = try seedPath(for: file.name, state: state)
            var options = try clientOptions(installed: seed, out: out, state: state)
            options.file = file.name
            options.accept = { info in
                info.version == version ? nil : "the channel now offers \(info.version) instead of \(version): check again"
            }
            let client = UpdateClient(options: options, observer: reporter.updateObserver())
            let report: UpdateReport
            do {
                report = try await client.run()
            } catch {
                throw Self.agentError(error)
            }
            guard report.status == "updated" || report.status == "up-to-date" else {
                throw AgentError(.invalidData, report.warnings.last ?? "\(version) is no longer offered: check again")
            }
            fetched += report.bytesFetched
            reused += report.reusedBytes
            requests += report.requests
            method.append("\(file.name): \(report.method)")
            if report.sha512 == file.sha512 && report.size == file.size { verified.insert(file.name) }
            reporter.finishFile(size: file.size)
        }
        // Verify the rest of the set on disk before recording it: files taken from the
        // installed bundle (which may have been changed since it was installed).
        for file in available.files where !verified.contains(file.name) {
            let path = directory + "/" + file.name
            let digests = try Self.hash(path)
            guard digests.sha512.base64 == file.sha512, digests.size == file.size else {
                FileOperations.remove(path)
                if let installed = takenFromInstalled[file.name] {
                    throw AgentError(.checkFailed, "\(installed): changed since it was installed (its SHA-512 is not the one recorded for it); restore it, or remove it so that it is downloaded, then download again")
                }
                throw AgentError(.checkFailed, "\(path): SHA-512 or size does not match the channel file after download")
            }
        }
        state.downloaded = DownloadedUpdate(version: version, channel: available.channel, files: available.files,
                                            downloadedAt: AgentClock.format(Date()), bytesFetched: fetched,
                                            bytesReused: reused, method: method.joined(separator: "; "))
        state.record("download", version: version, "\(fetched) bytes fetched, \(reused) reused")
        FileOperations.remove(progressPath)
        return DownloadResult(status: "downloaded", version: version, reason: nil, files: available.files,
                              bytesFetched: fetched, bytesReused: reused, requests: requests,
                              seconds: Self.seconds(since: started))
    }

    func versionDirectory(_ version: String) -> String { downloadsDirectory + "/" + version }

    /// The installed file a download is planned against: the installed file (file kind) or the
    /// bundle's file of the same name; an empty file when there is none (everything is fetched).
    func seedPath(for name: String, state: AgentState) throws(AgentError) -> String {
        if state.installed != nil {
            let candidate = config.kind == .file ? config.installPath : config.installPath + "/" + name
            if FileOperations.isRegularFile(candidate) { return candidate }
        }
        let empty = stateDirectory + "/empty-seed"
        if !FileOperations.isRegularFile(empty) { try FileOperations.writeAtomically([], to: empty) }
        return empty
    }

    func removeOtherDownloads(keeping version: String?) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: downloadsDirectory)) ?? []
        for entry in entries where entry != version { FileOperations.remove(downloadsDirectory + "/" + entry) }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Writes `progress.json` (at most every quarter second) and forwards progress to an observer.
final class ProgressWriter: @unchecked Sendable {
    private let path: String
    private let observer: (any AgentProgressObserver)?
    private let lock = NSLock()
    private var progress: DownloadProgress
    private var fileBase = 0
    private var lastWrite = Date.distantPast

    init(path: String, version: String, total: Int, files: Int, observer: (any AgentProgressObserver)?, now: Date) {
        self.path = path
        self.observer = observer
        let stamp = AgentClock.format(now)
        progress = DownloadProgress(version: version, phase: "starting", file: "", bytesDone: 0, bytesTotal: total,
                                    filesDone: 0, filesTotal: files, pid: getpid(), startedAt: stamp, updatedAt: stamp)
        write(force: true)
    }

    func startFile(_ name: String) {
        lock.withLock {
            progress.file = name
            progress.phase = "downloading"
        }
        write(force: true)
    }

    func finishFile(size: Int) {
        lock.withLock {
            fileBase += size
            progress.bytesDone = fileBase
            progress.filesDone += 1
        }
        write(force: true)
    }

    /// Bytes of the current file's build (the update client reports the phases
    /// `chunking`, `downloading`, `building`, `verifying`; the download phase counts).
    func updateObserver() -> any UpdateObserver { Forwarder(writer: self) }

    fileprivate func phase(_ name: String) {
        lock.withLock { progress.phase = name }
        write(force: true)
    }

    fileprivate func advance(_ bytes: Int, inDownload: Bool) {
        guard inDownload else { return }
        lock.withLock { progress.bytesDone = min(progress.bytesTotal, progress.bytesDone + bytes) }
        write(force: false)
    }

    func finish() {
        lock.withLock { progress.phase = "done" }
        observer?.progress(lock.withLock { progress })
    }

    private func write(force: Bool) {
        let snapshot: DownloadProgress? = lock.withLock {
            let now = Date()
            guard force || now.timeIntervalSince(lastWrite) >= 0.25 else { return nil }
            lastWrite = now
            progress.updatedAt = AgentClock.format(now)
            return progress
        }
        guard let snapshot else { return }
        observer?.progress(snapshot)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(snapshot) { try? AtomicFileWriter.write(Array(data), to: path) }
    }

    private final class Forwarder: UpdateObserver, @unchecked Sendable {
        let writer: ProgressWriter
        private var current = ""
        init(writer: ProgressWriter) { self.writer = writer }
        func begin(_ phase: String, total: Int) {
            current = phase
            writer.phase(phase)
        }
        func advance(_ bytes: Int) { writer.advance(bytes, inDownload: current.hasPrefix("download")) }
        func end() {}
        func warning(_ message: String) {}
    }
}
