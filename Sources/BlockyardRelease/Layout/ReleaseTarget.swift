/// The operating system an artifact updates, which picks its channel file's suffix.
public enum ReleaseOS: String, Sendable, Codable, CaseIterable {
    case windows = "win"
    case mac
    case linux

    /// Accepts electron-builder's and Node's names: win/windows/win32, mac/macos/darwin/osx, linux.
    public init?(name: String) {
        switch name.lowercased() {
        case "win", "windows", "win32": self = .windows
        case "mac", "macos", "darwin", "osx": self = .mac
        case "linux": self = .linux
        default: return nil
        }
    }
}

/// A CPU architecture as electron-builder names it (`Arch` in builder-util).
public enum ReleaseArch: String, Sendable, Codable, CaseIterable {
    case x64, ia32, arm64, armv7l, universal

    /// Accepts electron-builder's names and the common packaging aliases
    /// (x86_64/amd64, aarch64, armhf, i386/i686, arm).
    public init?(name: String) {
        switch name.lowercased() {
        case "x64", "x86_64", "amd64": self = .x64
        case "ia32", "i386", "i686", "x86": self = .ia32
        case "arm64", "aarch64": self = .arm64
        case "armv7l", "armhf", "arm": self = .armv7l
        case "universal": self = .universal
        default: return nil
        }
    }
}

/// Which channel file an artifact belongs in: electron-builder's
/// `<channel><osSuffix><archSuffix>.yml` (`getUpdateInfoFileName`), which is also the name
/// electron-updater requests: `""` on Windows, `-mac` on macOS, `-linux` on Linux, and on
/// Linux only an arch suffix for anything but x64 (`-linux-arm64`, `-linux-arm` for armv7l,
/// `-linux-ia32`).
public struct ReleaseTarget: Hashable, Sendable, Codable {
    public var os: ReleaseOS
    public var arch: ReleaseArch?

    public init(os: ReleaseOS, arch: ReleaseArch? = nil) {
        self.os = os
        self.arch = arch
    }

    public var channelFileSuffix: String {
        switch os {
        case .windows: return ""
        case .mac: return "-mac"
        case .linux:
            switch arch {
            case nil, .x64?, .universal?: return "-linux"
            case .armv7l?: return "-linux-arm"
            case let arch?: return "-linux-\(arch.rawValue)"
            }
        }
    }

    /// `latest.yml`, `beta-mac.yml`, `latest-linux-arm64.yml`, …
    public func channelFileName(channel: String) -> String { "\(channel)\(channelFileSuffix).yml" }

    /// Guesses the target from an artifact's file name: the extension gives the OS
    /// (.exe/.msi/.appx/.msix → Windows; .dmg/.pkg/.zip → macOS; .AppImage/.deb/.rpm/.snap/
    /// .pacman/.flatpak → Linux), an arch word in the name (x64, x86_64, amd64, arm64,
    /// aarch64, armv7l, armhf, ia32, i386, universal) the arch. Nil when the extension says
    /// nothing (pass `--platform`).
    public static func detect(fileName: String) -> ReleaseTarget? {
        guard let os = detectOS(fileName: fileName) else { return nil }
        return ReleaseTarget(os: os, arch: detectArch(fileName: fileName))
    }

    public static func detectOS(fileName: String) -> ReleaseOS? {
        let lower = fileName.lowercased()
        let windows = [".exe", ".msi", ".appx", ".msix"]
        let mac = [".dmg", ".pkg", ".zip"]
        let linux = [".appimage", ".deb", ".rpm", ".snap", ".pacman", ".flatpak"]
        if windows.contains(where: lower.hasSuffix) { return .windows }
        if mac.contains(where: lower.hasSuffix) { return .mac }
        if linux.contains(where: lower.hasSuffix) { return .linux }
        return nil
    }

    public static func detectArch(fileName: String) -> ReleaseArch? {
        let lower = Array(fileName.lowercased().utf8)
        // Longest names first, so x86_64 is not read as x86 and aarch64 not as arm.
        let words = ["x86_64", "aarch64", "universal", "armv7l", "armhf", "amd64", "arm64", "i386", "i686", "ia32", "x64"]
        func isWordByte(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        for word in words {
            let w = Array(word.utf8)
            guard w.count <= lower.count else { continue }
            for start in 0...(lower.count - w.count) where Array(lower[start..<(start + w.count)]) == w {
                let before = start == 0 || !isWordByte(lower[start - 1])
                let after = start + w.count == lower.count || !isWordByte(lower[start + w.count])
                if before && after { return ReleaseArch(name: word) }
            }
        }
        return nil
    }

    /// The file electron-updater prefers on this OS goes first in `files` (and so into the
    /// legacy `path`/`sha512`): the .zip on macOS, the .exe on Windows, the .AppImage on Linux.
    static func updaterPriority(fileName: String) -> Int {
        let lower = fileName.lowercased()
        return lower.hasSuffix(".zip") || lower.hasSuffix(".exe") || lower.hasSuffix(".appimage") ? 0 : 1
    }
}
