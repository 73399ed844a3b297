import BlockyardCore
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import Foundation

/// What the agent manages and how: `config.json` in the state directory.
///
/// The keys are the seed's (`auto_check`, `auto_download`, `auto_install`, `update_channel`,
/// `skip_versions`, `backup_count`, `check_interval_s`, `last_check`, `feed`, `public_key`)
/// plus the ones an agent needs to know what it is updating (`install_path`, `kind`,
/// `platform`, `file`, `health_cmd`, `allow_downgrade`). Every value is validated with a
/// message that names the key; unknown keys are refused (a typo must not be ignored).
/// Only ``remoteKeys`` can be changed over the REST API; `install_path` follows
/// ``InstallLocation``'s rules.
public struct AgentConfig: Equatable, Sendable {
    /// A single file (an installer, an AppImage, a model file) or a bundle (a directory whose
    /// files are the release's files).
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case file, bundle
    }

    public var autoCheck = true
    public var autoDownload = false
    public var autoInstall = false
    /// `stable`, `beta` or `alpha` (electron-builder channels `latest`, `beta`, `alpha`).
    public var updateChannel = "stable"
    public var skipVersions: [String] = []
    public var backupCount = 5
    public var checkIntervalSeconds = 86400
    /// ISO 8601 time of the last successful check.
    public var lastCheck: String?
    /// The feed URL (electron-builder generic provider `url`).
    public var feed = ""
    /// An Ed25519 public key (PEM, base64, or a file holding either): channel files must be
    /// signed by it.
    public var publicKey: String?
    /// The installed file or bundle directory.
    public var installPath = ""
    public var kind = Kind.file
    /// `win`, `mac`, `linux`, optionally with an arch (`linux-arm64`); default: this machine.
    public var platform: String?
    /// The artifact's file name in the channel file (file kind), overriding the automatic choice.
    public var file: String?
    /// A shell command run after each install; a non-zero exit rolls the install back.
    public var healthCommand: String?
    /// Offer versions older than the installed one (always allowed right after a channel change,
    /// as electron-updater does).
    public var allowDowngrade = false

    public init(feed: String, installPath: String, kind: Kind = .file) {
        self.feed = feed
        self.installPath = installPath
        self.kind = kind
    }

    /// The keys in the order they are written.
    public static let keys = ["auto_check", "auto_download", "auto_install", "update_channel", "skip_versions",
                              "backup_count", "check_interval_s", "last_check", "feed", "public_key",
                              "install_path", "kind", "platform", "file", "health_cmd", "allow_downgrade"]

    /// Channel names users pick and the electron-builder channel each reads.
    public static let channels: [(name: String, channel: String)] = [("stable", "latest"), ("beta", "beta"), ("alpha", "alpha")]

    /// The electron-builder channel (`latest`, `beta`, `alpha`) of ``updateChannel``.
    public var channel: String {
        Self.channels.first { $0.name == updateChannel }?.channel ?? updateChannel
    }

    /// The platform and arch channel files and artifacts are chosen for.
    public var target: ReleaseTarget {
        guard let platform else { return UpdateFileChoice.hostTarget }
        let parts = platform.split(separator: "-", maxSplits: 1).map(String.init)
        var target = ReleaseTarget(os: ReleaseOS(name: parts[0]) ?? .linux)
        if parts.count == 2 { target.arch = ReleaseArch(name: parts[1]) }
        return target
    }

    // MARK: JSON

    /// The value of `key` as JSON.
    public func value(of key: String) -> Any {
        switch key {
        case "auto_check": return autoCheck
        case "auto_download": return autoDownload
        case "auto_install": return autoInstall
        case "update_channel": return updateChannel
        case "skip_versions": return skipVersions
        case "backup_count": return backupCount
        case "check_interval_s": return checkIntervalSeconds
        case "last_check": return lastCheck ?? NSNull()
        case "feed": return feed
        case "public_key": return publicKey ?? NSNull()
        case "install_path": return installPath
        case "kind": return kind.rawValue
        case "platform": return platform ?? NSNull()
        case "file": return file ?? NSNull()
        case "health_cmd": return healthCommand ?? NSNull()
        case "allow_downgrade": return allowDowngrade
        default: return NSNull()
        }
    }

    /// Sets one key from a JSON value, validating it.
    public mutating func set(_ key: String, to value: Any) throws(AgentError) {
        func bad(_ expected: String) -> AgentError {
            AgentError(.usage, "config: \(key) must be \(expected), not \(AgentJSON.describe(value))")
        }
        func bool() throws(AgentError) -> Bool {
            guard let number = value as? NSNumber, AgentJSON.isBool(number) else { throw bad("true or false") }
            return number.boolValue
        }
        func int(_ range: ClosedRange<Int>) throws(AgentError) -> Int {
            guard let number = value as? NSNumber, !AgentJSON.isBool(number),
                  let int = Int(exactly: number.doubleValue), range.contains(int) else {
                throw bad("a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return int
        }
        func string(allowNull: Bool) throws(AgentError) -> String? {
            if value is NSNull {
                guard allowNull else { throw bad("a string") }
                return nil
            }
            guard let text = value as? String else { throw bad(allowNull ? "a string or null" : "a string") }
            return text
        }
        switch key {
        case "auto_check": autoCheck = try bool()
        case "auto_download": autoDownload = try bool()
        case "auto_install": autoInstall = try bool()
        case "allow_downgrade": allowDowngrade = try bool()
        case "update_channel":
            let name = try string(allowNull: false)!
            let known = Self.channels.map(\.name)
            guard known.contains(name) || name == "latest" else { throw bad("one of \(known.joined(separator: ", "))") }
            updateChannel = name == "latest" ? "stable" : name
        case "skip_versions":
            guard let list = value as? [Any] else { throw bad("a list of versions") }
            var versions: [String] = []
            for item in list {
                guard let text = item as? String, SemanticVersion(text) != nil else {
                    throw AgentError(.usage, "config: skip_versions: \(AgentJSON.describe(item)) is not a semantic version")
                }
                if !versions.contains(text) { versions.append(text) }
            }
            skipVersions = versions
        case "backup_count": backupCount = try int(0...1000)
        case "check_interval_s": checkIntervalSeconds = try int(1...(365 * 86400))
        case "last_check":
            let text = try string(allowNull: true)
            if let text, ReleaseTimestamp.milliseconds(text) == nil { throw bad("an ISO 8601 time or null") }
            lastCheck = text
        case "feed":
            let text = try string(allowNull: false)!
            let lower = text.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), URL(string: text)?.host != nil else {
                throw bad("an http(s) URL")
            }
            feed = text
        case "public_key":
            let text = try string(allowNull: true)
            if let text {
                do {
                    _ = try MetadataPublicKey(fileOrBase64: text)
                } catch {
                    throw AgentError(.usage, "config: public_key: \(error.message)")
                }
            }
            publicKey = text
        case "install_path":
            let text = try string(allowNull: false)!
            do {
                try InstallLocation.checkSyntax(text)
            } catch {
                throw AgentError(.usage, "config: \(error.message)")
            }
            installPath = text
        case "kind":
            let text = try string(allowNull: false)!
            guard let parsed = Kind(rawValue: text) else { throw bad("file or bundle") }
            kind = parsed
        case "platform":
            let text = try string(allowNull: true)
            if let text {
                let parts = text.split(separator: "-", maxSplits: 1).map(String.init)
                guard ReleaseOS(name: parts[0]) != nil, parts.count == 1 || ReleaseArch(name: parts[1]) != nil else {
                    throw bad("win, mac or linux, optionally with an arch (linux-arm64)")
                }
            }
            platform = text
        case "file":
            let text = try string(allowNull: true)
            if let text, text.isEmpty || text.contains("/") { throw bad("a file name") }
            file = text
        case "health_cmd":
            let text = try string(allowNull: true)
            healthCommand = text?.isEmpty == true ? nil : text
        default:
            throw AgentError(.usage, "config: unknown key \(key.debugDescription) (known: \(Self.keys.joined(separator: ", ")))")
        }
    }

    /// `KEY=VALUE` as `agent configure` takes it: VALUE is JSON when it parses as JSON
    /// (`true`, `5`, `null`, `["1.2.0"]`, `"text"`), else a plain string; for
    /// `skip_versions` a comma-separated list is accepted too.
    public mutating func configure(_ assignment: String) throws(AgentError) {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw AgentError(.usage, "configure: \(assignment.debugDescription) is not KEY=VALUE")
        }
        let key = String(assignment[..<equals]).trimmingCharacters(in: .whitespaces)
        let text = String(assignment[assignment.index(after: equals)...])
        var value: Any = text
        if let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) {
            value = parsed
        } else if key == "skip_versions" {
            value = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        // A number-looking string for a string key stays a string.
        if ["feed", "install_path", "file", "health_cmd", "public_key", "platform", "update_channel", "kind"].contains(key),
           !(value is String), !(value is NSNull) {
            value = text
        }
        try set(key, to: value)
    }

    /// Parses `config.json`.
    public static func decode(_ bytes: [UInt8], path: String) throws(AgentError) -> AgentConfig {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes))
        } catch {
            throw AgentError(.invalidData, "\(path): not valid JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw AgentError(.invalidData, "\(path): expected a JSON object")
        }
        var config = AgentConfig(feed: "", installPath: "")
        for key in dictionary.keys.sorted() {
            do {
                try config.set(key, to: dictionary[key]!)
            } catch {
                throw AgentError(.invalidData, "\(path): \(error.message.replacingOccurrences(of: "config: ", with: ""))")
            }
        }
        guard !config.feed.isEmpty else { throw AgentError(.invalidData, "\(path): feed is missing") }
        guard !config.installPath.isEmpty else { throw AgentError(.invalidData, "\(path): install_path is missing") }
        return config
    }

    /// `config.json` text: the keys in ``keys`` order, two-space indent.
    public func encoded() -> [UInt8] {
        var out = "{\n"
        for (i, key) in Self.keys.enumerated() {
            out += "  \(AgentJSON.string(key)): \(AgentJSON.encode(value(of: key)))"
            out += i == Self.keys.count - 1 ? "\n" : ",\n"
        }
        out += "}\n"
        return Array(out.utf8)
    }
}

/// Small JSON helpers for values held as `Any` (config values, API bodies).
enum AgentJSON {
    static func string(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }

    static func encode(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes, .sortedKeys])) ?? Data("[null]".utf8)
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }

    /// Whether a number JSONSerialization produced is a JSON `true`/`false`.
    static func isBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    static func describe(_ value: Any) -> String {
        if value is NSNull { return "null" }
        return encode(value)
    }
}
