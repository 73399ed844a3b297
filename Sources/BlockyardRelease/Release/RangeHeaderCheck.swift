import BlockyardCore
import BlockyardIO
import Foundation

/// How long the `Range` headers of electron-updater's differential downloads of a release
/// get. Its multi-range mode asks for up to about 500 ranges in one request (about 9 KB of
/// header, 11.5 KB with 10-digit offsets); a proxy or CDN that refuses long headers — nginx's
/// default `large_client_header_buffers 4 8k` answers 400 — makes every client fall back to a
/// full download. `release create` and `publish` print a hint when a release gets there
/// (docs/RELEASES.md, "Serving with nginx or a CDN").
public enum RangeHeaderCheck {
    /// The request header line nginx accepts by default (`large_client_header_buffers 4 8k`).
    public static let nginxDefaultLineLimit = 8 * 1024

    /// The longest Range header of one update path.
    public struct Finding: Sendable, Equatable, Encodable {
        public var artifact: String
        public var fromVersion: String
        public var toVersion: String
        /// Bytes of the longest `Range: …` request line (name, colon, space and value).
        public var longestHeader: Int
        /// Multi-range requests of the update.
        public var requests: Int
    }

    /// For each artifact of `version` with a `.blockmap`, electron-updater's update from the
    /// newest older version of the release directory that has the artifact of the same name
    /// (the version in the name replaced, as the client finds the old blockmap): its longest
    /// Range header. Versions or blockmaps that cannot be read are skipped (this is advice).
    public static func findings(root: String, version: String) -> [Finding] {
        guard let current = try? ReleaseManifest.load(root: root, version: version) else { return [] }
        let older = ReleaseLayout.versions(root: root)
            .compactMap { try? ReleaseManifest.load(root: root, version: $0) }
            .filter { manifest in
                guard let a = SemanticVersion(manifest.version), let b = SemanticVersion(version) else { return false }
                return a < b
            }
        var findings: [Finding] = []
        for artifact in current.artifacts {
            guard let blockmapFile = artifact.blockmap,
                  let newBlockmap = blockmap(root: root, version: version, name: blockmapFile.name) else { continue }
            for previous in StagedFallback.newestFirst(older) {
                let oldName = artifact.name.replacingOccurrences(of: version, with: previous.version)
                guard let old = previous.artifacts.first(where: { $0.name == oldName }), let oldBlockmapFile = old.blockmap else { continue }
                guard let oldBlockmap = blockmap(root: root, version: previous.version, name: oldBlockmapFile.name),
                      let plan = try? ElectronUpdaterPlanner.plan(
                          target: newBlockmap, seed: PlanSeedInput(path: oldName, size: old.size, blockmap: oldBlockmap),
                          options: PlanOptions(mode: .electronUpdater, includeChunks: false)) else { break }
                let headers = ElectronUpdaterPlanner.multiRangeHeaders(plan.operations)
                let longest = headers.map { "Range: ".utf8.count + $0.utf8.count }.max() ?? 0
                findings.append(Finding(artifact: artifact.name, fromVersion: previous.version, toVersion: version,
                                        longestHeader: longest, requests: headers.count))
                break
            }
        }
        return findings
    }

    /// ``findings(root:version:)`` for the newest version of the release directory.
    public static func findings(root: String) -> [Finding] {
        guard let newest = ReleaseLayout.versions(root: root).compactMap(SemanticVersion.init).max() else { return [] }
        return findings(root: root, version: newest.description)
    }

    /// A one-line hint when some update needs a longer Range header than nginx accepts by
    /// default; nil otherwise.
    public static func hint(_ findings: [Finding]) -> String? {
        guard let worst = findings.max(by: { $0.longestHeader < $1.longestHeader }),
              worst.longestHeader > nginxDefaultLineLimit else { return nil }
        return "hint: updating \(worst.artifact) from \(worst.fromVersion) sends Range headers of up to "
            + "\(worst.longestHeader) bytes; a proxy or CDN in front of the files must accept that "
            + "(nginx: large_client_header_buffers 4 16k; see docs/RELEASES.md, \"Serving with nginx or a CDN\")"
    }

    private static func blockmap(root: String, version: String, name: String) -> Blockmap? {
        let path = (root as NSString).appendingPathComponent(ReleaseLayout.artifactPath(version: version, name: name))
        guard let bytes = try? FileInput.readAll(path: path, limit: 500 << 20) else { return nil }
        return try? BlockmapCodec.decodeGzip(bytes)
    }
}
