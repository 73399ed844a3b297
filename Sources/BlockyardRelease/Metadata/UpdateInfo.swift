/// One downloadable file in a channel file (`files[]` in `latest.yml`), with electron-builder's
/// field names: `url` (relative to the feed URL, or absolute), `sha512` (base64),
/// `size`, and `blockMapSize` for artifacts that carry an embedded blockmap.
public struct UpdateFileInfo: Equatable, Sendable, Codable {
    public var url: String
    public var sha512: String
    public var size: Int?
    public var blockMapSize: Int?
    /// NSIS installers built with `perMachine`: run the installer elevated.
    public var isAdminRightsRequired: Bool?
    /// Blockyard's delivery files for this artifact (extra keys electron-updater ignores).
    public var delivery: DeliveryReference?

    public init(url: String, sha512: String, size: Int? = nil, blockMapSize: Int? = nil, isAdminRightsRequired: Bool? = nil,
                delivery: DeliveryReference? = nil) {
        self.url = url
        self.sha512 = sha512
        self.size = size
        self.blockMapSize = blockMapSize
        self.isAdminRightsRequired = isAdminRightsRequired
        self.delivery = delivery
    }
}

/// One entry of the list form of `releaseNotes`.
public struct ReleaseNoteInfo: Equatable, Sendable, Codable {
    public var version: String
    public var note: String?

    public init(version: String, note: String?) {
        self.version = version
        self.note = note
    }
}

/// `releaseNotes`: a string, or a list of `{version, note}` (electron-builder's
/// `releaseNotes: string | ReleaseNoteInfo[]`).
public enum ReleaseNotes: Equatable, Sendable, Codable {
    case text(String)
    case perVersion([ReleaseNoteInfo])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .perVersion(try container.decode([ReleaseNoteInfo].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .perVersion(let list): try container.encode(list)
        }
    }
}

/// The content of a channel file (`latest.yml`, `beta-mac.yml`, …): electron-builder's
/// `UpdateInfo` (builder-util-runtime `updateInfo.ts`), the fields electron-updater reads.
public struct UpdateInfo: Equatable, Sendable {
    public var version: String
    public var files: [UpdateFileInfo]
    /// Deprecated `path`: the first file's URL (electron-updater < 2.15 reads it).
    public var path: String?
    /// Deprecated `sha512`: the first file's SHA-512.
    public var sha512: String?
    public var releaseName: String?
    public var releaseNotes: ReleaseNotes?
    /// Percentage of users offered the update (electron-updater `parseInt`s it; absent = all).
    public var stagingPercentage: Int?
    public var minimumSystemVersion: String?
    /// When this metadata was issued: `new Date().toISOString()`.
    public var releaseDate: String?

    public init(version: String, files: [UpdateFileInfo], path: String? = nil, sha512: String? = nil,
                releaseName: String? = nil, releaseNotes: ReleaseNotes? = nil, stagingPercentage: Int? = nil,
                minimumSystemVersion: String? = nil, releaseDate: String? = nil) {
        self.version = version
        self.files = files
        self.path = path
        self.sha512 = sha512
        self.releaseName = releaseName
        self.releaseNotes = releaseNotes
        self.stagingPercentage = stagingPercentage
        self.minimumSystemVersion = minimumSystemVersion
        self.releaseDate = releaseDate
    }

    /// Files as electron-updater resolves them: `files`, or the legacy `path`/`sha512` pair
    /// when `files` is empty.
    public var effectiveFiles: [UpdateFileInfo] {
        if !files.isEmpty { return files }
        if let path, let sha512 { return [UpdateFileInfo(url: path, sha512: sha512)] }
        return []
    }
}
