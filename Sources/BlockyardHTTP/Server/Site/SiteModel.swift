import BlockyardRelease
import Foundation

/// What the download page and the releases API show, built from the same metadata the
/// channel files come from: every `releases/*/release.json`, and the channel files at the
/// root for what each channel offers now.
struct SiteModel: Sendable {
    struct Release: Sendable {
        let manifest: ReleaseManifest
        var version: String { manifest.version }
        /// electron-builder's GitHub tag: `v` + version.
        var tag: String { "v" + manifest.version }
        let isPrerelease: Bool
        /// Channel files that offer this version now (`latest.yml`, `beta-mac.yml`, …).
        let offeredBy: [String]
        /// A stable numeric id (GitHub ids are numbers): 53 bits of a hash of the version.
        var id: Int { SiteModel.stableID("release\u{0}" + manifest.version) }

        func assetID(_ name: String) -> Int { SiteModel.stableID("asset\u{0}" + manifest.version + "\u{0}" + name) }
    }

    /// What one channel offers: its channel files and the version each offers.
    struct Channel: Sendable {
        let name: String
        let files: [(file: String, version: String)]
    }

    let product: String
    /// Newest first.
    let releases: [Release]
    let channels: [Channel]

    /// The release `GET /api/releases/latest` answers: the newest version the `latest`
    /// channel files offer (so a rollback with `release promote` shows here too), else the
    /// newest release that is not a pre-release.
    var latest: Release? {
        if let channel = channels.first(where: { $0.name == ReleaseChannel.latest }) {
            let offered = channel.files.compactMap { SemanticVersion($0.version) }.max()
            if let offered, let release = releases.first(where: { SemanticVersion($0.version) == offered }) { return release }
        }
        return releases.first { !$0.isPrerelease }
    }

    func release(tag: String) -> Release? {
        let version = tag.hasPrefix("v") ? String(tag.dropFirst()) : tag
        return releases.first { $0.version == version } ?? releases.first { $0.tag == tag }
    }

    init(snapshot: ReleaseCatalog.Snapshot, channelFiles: [(name: String, info: UpdateInfo)], productName: String?) {
        var offered: [String: [String]] = [:]
        var channels: [String: [(String, String)]] = [:]
        // Windows, macOS, Linux, other Linux arches: the order of the platforms on the page.
        func rank(_ name: String) -> (Int, String) {
            guard let channel = ReleaseLayout.channel(ofChannelFile: name) else { return (9, name) }
            let suffix = String(name.dropLast(4).dropFirst(channel.count))
            return (["", "-mac", "-linux"].firstIndex(of: suffix) ?? 3, name)
        }
        for (name, info) in channelFiles.sorted(by: { rank($0.name) < rank($1.name) }) {
            offered[info.version, default: []].append(name)
            if let channel = ReleaseLayout.channel(ofChannelFile: name) { channels[channel, default: []].append((name, info.version)) }
        }
        releases = snapshot.newestFirst.map {
            Release(manifest: $0, isPrerelease: SemanticVersion($0.version)?.isPrerelease ?? false, offeredBy: offered[$0.version] ?? [])
        }
        let order = [ReleaseChannel.latest, ReleaseChannel.beta, ReleaseChannel.alpha]
        self.channels = channels.keys.sorted { a, b in
            (order.firstIndex(of: a) ?? order.count, a) < (order.firstIndex(of: b) ?? order.count, b)
        }.map { Channel(name: $0, files: channels[$0]!.map { (file: $0.0, version: $0.1) }) }
        product = productName ?? Self.guessProduct(releases.first?.manifest)
    }

    /// The product name from the newest release's artifact names: their common start before
    /// the version (`MyApp-Setup-1.2.0.exe`, `MyApp-1.2.0-mac.zip` → `MyApp`), else its
    /// release name without the version, else "Releases".
    static func guessProduct(_ manifest: ReleaseManifest?) -> String {
        guard let manifest else { return "Releases" }
        let stems = manifest.artifacts.map { artifact -> String in
            if let range = artifact.name.range(of: manifest.version) { return String(artifact.name[..<range.lowerBound]) }
            return artifact.name
        }
        var prefix = stems.first ?? ""
        for stem in stems.dropFirst() {
            while !stem.hasPrefix(prefix) { prefix.removeLast() }
        }
        func trimmed(_ text: String) -> String {
            var t = text.trimmingCharacters(in: CharacterSet(charactersIn: "-_. v"))
            for suffix in ["-Setup", " Setup", "_Setup", "-setup", "_setup", " setup"] where t.hasSuffix(suffix) {
                t = String(t.dropLast(suffix.count))
            }
            return t.trimmingCharacters(in: CharacterSet(charactersIn: "-_. "))
        }
        let fromNames = trimmed(prefix)
        if fromNames.count >= 2 { return fromNames }
        if let name = manifest.releaseName {
            let t = trimmed(name.replacingOccurrences(of: manifest.version, with: ""))
            if !t.isEmpty { return t }
        }
        return "Releases"
    }

    /// FNV-1a 64 of `text`, reduced to 53 bits (exact in JavaScript numbers), never 0.
    static func stableID(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int(hash & ((1 << 53) - 1)) | 1
    }

    /// Release notes as one Markdown text (the list form becomes a section per version).
    static func notesText(_ notes: ReleaseNotes?) -> String {
        switch notes {
        case .text(let text)?: return text
        case .perVersion(let list)?:
            return list.map { "## \($0.version)\n\n\($0.note ?? "")" }.joined(separator: "\n\n")
        case nil: return ""
        }
    }
}

/// The visitor's platform, from the User-Agent.
struct VisitorPlatform: Equatable, Sendable {
    var os: ReleaseOS?
    var arch: ReleaseArch?

    init(os: ReleaseOS? = nil, arch: ReleaseArch? = nil) {
        self.os = os
        self.arch = arch
    }

    init(userAgent: String?) {
        guard let ua = userAgent?.lowercased(), !ua.isEmpty else { return }
        // Phones and tablets cannot run desktop installers.
        if ua.contains("android") || ua.contains("iphone") || ua.contains("ipad") { return }
        if ua.contains("windows") {
            os = .windows
            if ua.contains("arm64") || ua.contains("aarch64") {
                arch = .arm64
            } else if ua.contains("win64") || ua.contains("x64") || ua.contains("wow64") || ua.contains("x86_64") {
                arch = .x64
            }
        } else if ua.contains("macintosh") || ua.contains("mac os x") {
            os = .mac  // browsers report Intel on Apple silicon too: no arch
        } else if ua.contains("linux") || ua.contains("x11") || ua.contains("cros") {
            os = .linux
            if ua.contains("aarch64") || ua.contains("arm64") {
                arch = .arm64
            } else if ua.contains("armv7") {
                arch = .armv7l
            } else if ua.contains("x86_64") || ua.contains("amd64") {
                arch = .x64
            } else if ua.contains("i686") || ua.contains("i386") {
                arch = .ia32
            }
        }
    }
}

extension ReleaseOS {
    var displayName: String {
        switch self {
        case .windows: return "Windows"
        case .mac: return "macOS"
        case .linux: return "Linux"
        }
    }

    /// Download-page order of formats: installers people run first, update archives last.
    func formatRank(_ name: String) -> Int {
        let lower = name.lowercased()
        let order: [String]
        switch self {
        case .windows: order = [".exe", ".msi", ".msix", ".appx", ".zip", ".7z"]
        case .mac: order = [".dmg", ".pkg", ".zip"]
        case .linux: order = [".appimage", ".deb", ".rpm", ".snap", ".flatpak", ".pacman", ".tar.gz", ".tar.xz", ".zip"]
        }
        return order.firstIndex { lower.hasSuffix($0) } ?? order.count
    }
}

/// The artifacts of a release grouped by operating system, the visitor's first.
struct PlatformGroup: Sendable {
    let os: ReleaseOS
    let recommended: Bool
    let artifacts: [ReleaseArtifact]

    static func groups(_ manifest: ReleaseManifest, visitor: VisitorPlatform) -> [PlatformGroup] {
        var order: [ReleaseOS] = [.windows, .mac, .linux]
        if let os = visitor.os, let index = order.firstIndex(of: os) { order.insert(order.remove(at: index), at: 0) }
        return order.compactMap { os in
            let artifacts = manifest.artifacts.enumerated().filter { $0.element.os == os }.sorted { a, b in
                let archA = visitor.os == os && visitor.arch != nil && a.element.arch == visitor.arch ? 0 : 1
                let archB = visitor.os == os && visitor.arch != nil && b.element.arch == visitor.arch ? 0 : 1
                return (archA, os.formatRank(a.element.name), a.offset) < (archB, os.formatRank(b.element.name), b.offset)
            }.map(\.element)
            guard !artifacts.isEmpty else { return nil }
            return PlatformGroup(os: os, recommended: visitor.os == os, artifacts: artifacts)
        }
    }
}
