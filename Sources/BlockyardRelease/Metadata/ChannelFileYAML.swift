import Foundation
import Yams

/// Writes and reads channel files (`latest*.yml`) with Yams.
///
/// Output follows electron-builder's `serializeToYaml` (js-yaml `dump`): keys in
/// electron-builder's order (`version`, `files`, `path`, `sha512`, `releaseName`,
/// `releaseNotes`, `stagingPercentage`, `minimumSystemVersion`, `releaseDate`), block style,
/// no line folding, UTF-8 text. A string is single-quoted whenever a YAML reader could take it
/// for anything but a string — a timestamp (so `releaseDate` is always quoted, as
/// electron-builder writes it), a number (`1.10`), a bool (`yes`) or null — so the file reads
/// back identically under js-yaml's schema (electron-updater) and YAML 1.1 (PyYAML).
/// Multi-line release notes use literal block style.
public enum ChannelFileYAML {
    /// The YAML text of `info`.
    public static func encode(_ info: UpdateInfo) -> String {
        var pairs: [(Node, Node)] = [(key("version"), string(info.version))]
        let files = info.files.map { file -> Node in
            var entry: [(Node, Node)] = [(key("url"), string(file.url)), (key("sha512"), string(file.sha512))]
            if let size = file.size { entry.append((key("size"), integer(size))) }
            if let blockMapSize = file.blockMapSize { entry.append((key("blockMapSize"), integer(blockMapSize))) }
            if let admin = file.isAdminRightsRequired { entry.append((key("isAdminRightsRequired"), Node(admin ? "true" : "false"))) }
            if let delivery = file.delivery {
                entry.append((key("blockyardIndex"), string(delivery.index)))
                entry.append((key("blockyardIndexSize"), integer(delivery.indexSize)))
                entry.append((key("blockyardPack"), string(delivery.pack)))
                entry.append((key("blockyardPackSize"), integer(delivery.packSize)))
                entry.append((key("blockyardRoot"), string(delivery.root)))
            }
            return Node(entry, .implicit, .block)
        }
        pairs.append((key("files"), Node(files, .implicit, .block)))
        if let path = info.path { pairs.append((key("path"), string(path))) }
        if let sha512 = info.sha512 { pairs.append((key("sha512"), string(sha512))) }
        if let name = info.releaseName { pairs.append((key("releaseName"), string(name))) }
        switch info.releaseNotes {
        case .text(let text)?: pairs.append((key("releaseNotes"), string(text)))
        case .perVersion(let list)?:
            let items = list.map { note -> Node in
                var entry: [(Node, Node)] = [(key("version"), string(note.version))]
                entry.append((key("note"), note.note.map(string) ?? Node("null")))
                return Node(entry, .implicit, .block)
            }
            pairs.append((key("releaseNotes"), Node(items, .implicit, .block)))
        case nil: break
        }
        if let percent = info.stagingPercentage { pairs.append((key("stagingPercentage"), integer(percent))) }
        if let minimum = info.minimumSystemVersion { pairs.append((key("minimumSystemVersion"), string(minimum))) }
        if let date = info.releaseDate { pairs.append((key("releaseDate"), string(date))) }
        return serialize(Node(pairs, .implicit, .block))
    }

    static func serialize(_ node: Node) -> String {
        // Serializing a tree built from scalars, sequences and mappings cannot fail.
        (try? Yams.serialize(node: node, width: -1, allowUnicode: true)) ?? ""
    }

    private static func key(_ name: String) -> Node { Node(name) }

    private static func integer(_ value: Int) -> Node { Node(String(value)) }

    /// A string scalar that reads back as the same string in every YAML schema in use.
    static func string(_ value: String) -> Node {
        if value.contains("\n") { return .scalar(.init(value, Tag(.str), .literal)) }
        return .scalar(value.represented())
    }
}

/// A parsed channel file: the typed ``UpdateInfo`` plus what the parse noticed, and the
/// original text for edits that must keep every other field as it was (``settingStagingPercentage(_:)``).
public struct ChannelDocument: Sendable {
    public let text: String
    public let info: UpdateInfo
    /// Things electron-updater would read differently from what the file seems to say.
    public let warnings: [String]

    /// Parses YAML (or JSON) the way electron-updater's js-yaml `load` would read it.
    public init(text: String) throws(ReleaseError) {
        self.text = text
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ReleaseError(.invalidData, "the channel file is empty")
            }
            root = node
        } catch let error as ReleaseError {
            throw error
        } catch {
            throw ReleaseError(.invalidData, "the channel file is not valid YAML: \(error)")
        }
        guard let map = root.mapping else { throw ReleaseError(.invalidData, "the channel file is not a YAML mapping") }
        var warnings: [String] = []

        guard let versionNode = map["version"], let version = versionNode.scalar else {
            throw ReleaseError(.invalidData, "the channel file has no version")
        }
        guard versionNode.tagName == .str else {
            throw ReleaseError(.invalidData, "version \(version.string) is not a string in YAML (quote it): electron-updater would read a \(versionNode.tagName.rawValue.split(separator: ":").last ?? "number")")
        }
        guard SemanticVersion(version.string) != nil else {
            throw ReleaseError(.invalidData, "version '\(version.string)' is not a semantic version (electron-updater: ERR_UPDATER_INVALID_VERSION)")
        }
        var files: [UpdateFileInfo] = []
        if let list = map["files"] {
            guard let sequence = list.sequence else { throw ReleaseError(.invalidData, "files is not a list") }
            for (index, item) in sequence.enumerated() {
                guard let entry = item.mapping, let url = entry["url"]?.scalar?.string, !url.isEmpty else {
                    throw ReleaseError(.invalidData, "files[\(index)] has no url")
                }
                guard let sha512 = entry["sha512"]?.scalar?.string, !sha512.isEmpty else {
                    throw ReleaseError(.invalidData, "files[\(index)] (\(url)) has no sha512")
                }
                let size = try Self.integer(entry["size"], "files[\(index)].size")
                let blockMapSize = try Self.integer(entry["blockMapSize"], "files[\(index)].blockMapSize")
                let admin = entry["isAdminRightsRequired"].flatMap { $0.bool }
                if size == nil { warnings.append("\(url) has no size: electron-updater cannot download it differentially") }
                if !Self.isBase64SHA512(sha512) {
                    warnings.append("\(url): sha512 is not base64: electron-updater's differential download always fails its check")
                }
                let (delivery, deliveryWarning) = DeliveryReference.parse({ entry[$0]?.scalar?.string }, entry: url)
                if let deliveryWarning { warnings.append(deliveryWarning) }
                files.append(UpdateFileInfo(url: url, sha512: sha512, size: size, blockMapSize: blockMapSize, isAdminRightsRequired: admin,
                                            delivery: delivery))
            }
        }
        let path = map["path"]?.scalar?.string
        let legacySHA512 = map["sha512"]?.scalar?.string
        if files.isEmpty && (path == nil || legacySHA512 == nil) {
            throw ReleaseError(.invalidData, "the channel file lists no files")
        }
        var notes: ReleaseNotes?
        if let node = map["releaseNotes"] {
            if let scalar = node.scalar, node.tagName != .null {
                notes = .text(scalar.string)
            } else if let list = node.sequence {
                notes = .perVersion(list.compactMap { item in
                    guard let entry = item.mapping, let v = entry["version"]?.scalar?.string else { return nil }
                    let note = entry["note"].flatMap { $0.tagName == .null ? nil : $0.scalar?.string }
                    return ReleaseNoteInfo(version: v, note: note)
                })
            }
        }
        var staging: Int?
        if let node = map["stagingPercentage"], let scalar = node.scalar, node.tagName != .null {
            staging = Self.parseInt(scalar.string)
            if let staging, Double(scalar.string).map({ $0 != Double(staging) }) == true {
                warnings.append("stagingPercentage \(scalar.string) is not a whole number: electron-updater truncates it to \(staging) (parseInt)")
            } else if staging == nil {
                warnings.append("stagingPercentage '\(scalar.string)' is not a number: electron-updater offers the update to everyone")
            }
        }
        info = UpdateInfo(version: version.string, files: files, path: path, sha512: legacySHA512,
                          releaseName: map["releaseName"]?.scalar?.string, releaseNotes: notes,
                          stagingPercentage: staging,
                          minimumSystemVersion: map["minimumSystemVersion"]?.scalar?.string,
                          releaseDate: map["releaseDate"]?.scalar?.string)
        self.warnings = warnings
    }

    /// Parses UTF-8 bytes.
    public init(bytes: [UInt8]) throws(ReleaseError) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ReleaseError(.invalidData, "the channel file is not UTF-8 text")
        }
        try self.init(text: text)
    }

    /// The same document with `stagingPercentage` set (or removed for nil), every other field
    /// and its formatting left as it was. The key goes before `releaseDate` when added.
    public func settingStagingPercentage(_ percent: Int?) throws(ReleaseError) -> String {
        guard let root = try? Yams.compose(yaml: text), var map = root.mapping else {
            throw ReleaseError(.invalidData, "the channel file is not a YAML mapping")
        }
        var pairs = map.map { ($0.key, $0.value) }
        pairs.removeAll { $0.0.scalar?.string == "stagingPercentage" }
        if let percent {
            let entry = (Node("stagingPercentage"), Node(String(percent)))
            if let index = pairs.firstIndex(where: { $0.0.scalar?.string == "releaseDate" }) {
                pairs.insert(entry, at: index)
            } else {
                pairs.append(entry)
            }
        }
        map = Node.Mapping(pairs, map.tag, .block)
        return ChannelFileYAML.serialize(.mapping(map))
    }

    /// JavaScript `parseInt(String(x), 10)`: optional sign and leading digits, after leading
    /// whitespace; nil for NaN.
    static func parseInt(_ text: String) -> Int? {
        var s = Substring(text.drop { $0 == " " || $0 == "\t" })
        var negative = false
        if let first = s.first, first == "+" || first == "-" {
            negative = first == "-"
            s = s.dropFirst()
        }
        let digits = s.prefix { $0.isASCIIDigit }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        return negative ? -value : value
    }

    private static func integer(_ node: Node?, _ name: String) throws(ReleaseError) -> Int? {
        guard let node, node.tagName != .null else { return nil }
        guard let text = node.scalar?.string, let value = Int(text), value >= 0 else {
            throw ReleaseError(.invalidData, "\(name) is not a non-negative integer")
        }
        return value
    }

    private static func isBase64SHA512(_ text: String) -> Bool {
        text.utf8.count == 88 && text.hasSuffix("==") && text.utf8.dropLast(2).allSatisfy {
            ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 47
        }
    }
}

extension Node {
    /// The resolved tag's name (`tag:yaml.org,2002:str`, `…:int`, …).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
