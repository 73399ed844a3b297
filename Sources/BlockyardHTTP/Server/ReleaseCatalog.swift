import BlockyardRelease
import Foundation

/// Every release under a release root (`releases/{version}/release.json`), reloaded when a
/// manifest is added, removed or rewritten. Requests read an immutable ``Snapshot``; the
/// check for changes (a directory listing and one `stat` per version) runs at most once per
/// `checkInterval`, or at once when a request names a version the snapshot lacks.
final class ReleaseCatalog: @unchecked Sendable {
    /// The releases as one consistent value.
    struct Snapshot: Sendable {
        /// Manifests by version directory name.
        let manifests: [String: ReleaseManifest]
        /// Manifests, newest version first (SemVer precedence; unparsable versions last).
        let newestFirst: [ReleaseManifest]
        /// Manifests that could not be read: "path: reason".
        let problems: [String]

        static let empty = Snapshot(manifests: [:], newestFirst: [], problems: [])

        init(manifests: [String: ReleaseManifest], newestFirst: [ReleaseManifest], problems: [String]) {
            self.manifests = manifests
            self.newestFirst = newestFirst
            self.problems = problems
        }

        init(manifests: [String: ReleaseManifest], problems: [String]) {
            self.manifests = manifests
            self.problems = problems
            newestFirst = StagedFallback.newestFirst(manifests.values)
        }

        /// The artifact `name` of `version`, if its manifest lists it.
        func artifact(version: String, name: String) -> ReleaseArtifact? {
            manifests[version]?.artifacts.first { $0.name == name }
        }

        /// The artifact whose blockmap is `blockmapName` in `version`.
        func artifact(version: String, blockmapName: String) -> ReleaseArtifact? {
            manifests[version]?.artifacts.first { $0.blockmap?.name == blockmapName }
        }
    }

    private struct Stamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var mtime: Int64
        var mtimeNanos: Int64
    }

    let root: String
    let checkInterval: TimeInterval
    private let lock = NSLock()
    private var current = Snapshot.empty
    private var stamps: [String: Stamp] = [:]
    private var lastCheck: TimeInterval = -.infinity
    private var checking = false

    init(root: String, checkInterval: TimeInterval = 1) {
        self.root = root
        self.checkInterval = checkInterval
    }

    /// The current snapshot, checked for changes if the last check is older than the interval.
    func snapshot() -> Snapshot {
        refresh(maxAge: checkInterval)
    }

    /// The snapshot, checked for changes unless a check ran within `maxAge` seconds. Only one
    /// caller checks at a time; the others get the previous snapshot meanwhile.
    @discardableResult
    func refresh(maxAge: TimeInterval) -> Snapshot {
        let now = ProcessInfo.processInfo.systemUptime
        lock.lock()
        if checking || now - lastCheck < maxAge {
            let snapshot = current
            lock.unlock()
            return snapshot
        }
        checking = true
        let previousStamps = stamps
        let previous = current
        lock.unlock()

        let (snapshot, newStamps) = load(previous: previous, previousStamps: previousStamps)

        lock.lock()
        current = snapshot
        stamps = newStamps
        lastCheck = ProcessInfo.processInfo.systemUptime
        checking = false
        lock.unlock()
        return snapshot
    }

    /// The snapshot, re-checked now (rate-limited to 20 checks a second) when it lacks `version`.
    func snapshot(containing version: String) -> Snapshot {
        let snapshot = self.snapshot()
        if snapshot.manifests[version] != nil { return snapshot }
        return refresh(maxAge: 0.05)
    }

    private func load(previous: Snapshot, previousStamps: [String: Stamp]) -> (Snapshot, [String: Stamp]) {
        let directory = (root as NSString).appendingPathComponent(ReleaseLayout.releasesDirectory)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
        var manifests: [String: ReleaseManifest] = [:]
        var stamps: [String: Stamp] = [:]
        var problems: [String] = []
        var changed = false
        for name in names {
            let path = "\(directory)/\(name)/\(ReleaseLayout.manifestName)"
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            let stamp = Stamp(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
                              mtime: Int64(st.st_mtim.tv_sec), mtimeNanos: Int64(st.st_mtim.tv_nsec))
            stamps[name] = stamp
            if previousStamps[name] == stamp, let manifest = previous.manifests[name] {
                manifests[name] = manifest
                continue
            }
            changed = true
            do {
                if let manifest = try ReleaseManifest.load(root: root, version: name) { manifests[name] = manifest }
            } catch {
                problems.append(error.message)
            }
        }
        if !changed && stamps.count == previousStamps.count && previous.problems.isEmpty {
            return (previous, stamps)
        }
        return (Snapshot(manifests: manifests, problems: problems), stamps)
    }
}
