import BlockyardRelease
import Foundation

/// Which `files[]` entry of a channel file to download, as electron-updater chooses it
/// (shared/specs/electron-updater.md, "File choice"), with two additions for artifacts that
/// are not installers: `--file NAME`, and the installed file's extension.
///
/// 1. `explicit` (`--file`): the entry whose URL's last path component (or whole URL) is it.
/// 2. The platform's kind, preferring a URL that contains the architecture (Node's
///    `process.arch` name: x64, arm64, ia32, arm), else the first of that kind:
///    Windows `.exe` (NSIS); macOS `.zip`, after keeping only `arm64` URLs on arm64 and only
///    non-`arm64` URLs elsewhere when the feed has any `arm64` URL; Linux `.AppImage`.
/// 3. An entry with the installed file's extension (e.g. `.bin` model bundles), preferring
///    the architecture likewise.
/// 4. electron-updater's own fallback: the first entry (on Linux the first that is not a
///    .rpm, .deb or .pacman).
public enum UpdateFileChoice {
    public static func choose(_ files: [UpdateFileInfo], target: ReleaseTarget, installedName: String?,
                              explicit: String? = nil) throws(UpdateError) -> UpdateFileInfo {
        guard !files.isEmpty else { throw UpdateError(.invalidData, "the channel file lists no files") }
        if let explicit {
            if let match = files.first(where: { name(of: $0.url) == explicit || $0.url == explicit }) { return match }
            throw UpdateError(.usage, "--file \(explicit): the channel file has no such file (it lists \(files.map { name(of: $0.url) }.joined(separator: ", ")))")
        }
        let arch = nodeArch(target.arch)
        var pool = files
        let kind: String
        switch target.os {
        case .windows:
            kind = "exe"
        case .mac:
            kind = "zip"
            if pool.contains(where: { $0.url.contains("arm64") }) {
                let arm = target.arch == .arm64
                let filtered = pool.filter { $0.url.contains("arm64") == arm }
                if !filtered.isEmpty { pool = filtered }
            }
        case .linux:
            kind = "AppImage"
        }
        if let found = firstPreferringArch(pool.filter { hasExtension($0.url, kind) }, arch: arch) { return found }
        if let installedName, let dot = installedName.lastIndex(of: "."), dot != installedName.startIndex {
            let ext = String(installedName[installedName.index(after: dot)...])
            if !ext.isEmpty, let found = firstPreferringArch(files.filter { hasExtension($0.url, ext) }, arch: arch) {
                return found
            }
        }
        if target.os == .linux,
           let found = files.first(where: { file in !["rpm", "deb", "pacman"].contains { hasExtension(file.url, $0) } }) {
            return found
        }
        return files[0]
    }

    /// Node's `process.arch` for an electron-builder arch name (what electron-updater matches
    /// URLs against).
    static func nodeArch(_ arch: ReleaseArch?) -> String? {
        switch arch {
        case nil, .universal?: return nil
        case .armv7l?: return "arm"
        case let arch?: return arch.rawValue
        }
    }

    static func firstPreferringArch(_ files: [UpdateFileInfo], arch: String?) -> UpdateFileInfo? {
        if let arch, let withArch = files.first(where: { $0.url.contains(arch) }) { return withArch }
        return files.first
    }

    static func hasExtension(_ url: String, _ ext: String) -> Bool {
        pathPart(url).lowercased().hasSuffix("." + ext.lowercased())
    }

    /// The URL without query or fragment.
    static func pathPart(_ url: String) -> Substring {
        url.prefix { $0 != "?" && $0 != "#" }
    }

    /// The last path component of a `files[].url`, percent-decoded.
    public static func name(of url: String) -> String {
        let path = pathPart(url)
        let last = path.split(separator: "/").last.map(String.init) ?? String(path)
        return last.removingPercentEncoding ?? last
    }

    /// The target this machine updates: Linux, macOS or Windows, and its architecture.
    public static var hostTarget: ReleaseTarget {
        #if os(macOS)
        let os = ReleaseOS.mac
        #elseif os(Windows)
        let os = ReleaseOS.windows
        #else
        let os = ReleaseOS.linux
        #endif
        #if arch(arm64)
        let arch = ReleaseArch.arm64
        #elseif arch(arm)
        let arch = ReleaseArch.armv7l
        #elseif arch(i386)
        let arch = ReleaseArch.ia32
        #else
        let arch = ReleaseArch.x64
        #endif
        return ReleaseTarget(os: os, arch: arch)
    }
}
