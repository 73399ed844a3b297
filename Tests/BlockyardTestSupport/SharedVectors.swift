import Foundation

/// The golden vectors in `shared/vectors/expected` (read-only, beside the repository).
public struct ExpectedVector: Sendable {
    public let name: String
    public let size: Int
    public let sha256: String
    public let sha512: String
    public let infoJSON: String
    public let blockmapJSON: String
    public let chunkCount: Int
    public let trailingZeroChunk: Bool
    /// Appended-mode values (only some vectors): size, sha512, blockMapSize.
    public let appendedBlockMapSize: Int?

    /// The electron-builder ≥ 26.14 form: app-builder's JSON without a trailing zero chunk.
    public var electronBuilderJSON: String {
        guard trailingZeroChunk else { return blockmapJSON }
        var s = blockmapJSON
        // Remove the last checksum (",\"kaGk…\"" or "\"kaGk…\"") and the last size (",0" or "0").
        let zero = "\"kaGkgagus/PmJi3hHxQtI0lF\""
        if let r = s.range(of: ",\(zero)],\"sizes\"") { s.replaceSubrange(r, with: "],\"sizes\"") }
        else if let r = s.range(of: "[\(zero)],\"sizes\"") { s.replaceSubrange(r, with: "[],\"sizes\"") }
        if s.hasSuffix(",0]}]}") { s.removeLast(6); s += "]}]}" }
        else if s.hasSuffix("[0]}]}") { s.removeLast(6); s += "[]}]}" }
        return s
    }
}

public enum SharedVectors {
    /// `shared/` beside the repository, or `$BLOCKYARD_SHARED`.
    public static var sharedDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["BLOCKYARD_SHARED"] {
            return URL(fileURLWithPath: env)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    /// The repository root, found from this source file's location.
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public static var expectedDirectory: URL {
        sharedDirectory.appendingPathComponent("vectors/expected")
    }

    /// Names of all vectors with an expected output, sorted.
    public static func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: expectedDirectory.path)
            .filter { $0.hasSuffix(".json") }
            .map { String($0.dropLast(5)) }
            .sorted()
    }

    public static func expected(_ name: String) throws -> ExpectedVector {
        let data = try Data(contentsOf: expectedDirectory.appendingPathComponent("\(name).json"))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let appended = object["appended"] as? [String: Any]
        return ExpectedVector(
            name: name,
            size: object["size"] as! Int,
            sha256: object["sha256"] as! String,
            sha512: object["sha512"] as! String,
            infoJSON: object["info_json"] as! String,
            blockmapJSON: object["blockmap_json"] as! String,
            chunkCount: object["chunk_count"] as! Int,
            trailingZeroChunk: object["trailing_zero_chunk"] as? Bool ?? false,
            appendedBlockMapSize: appended?["blockMapSize"] as? Int)
    }

    /// The `rabin-poly64-window64-tables.txt` rows: (index, push, pop).
    public static func rabinTables() throws -> [(Int, UInt64, UInt64)] {
        let text = try String(contentsOf: sharedDirectory.appendingPathComponent("vectors/rabin-poly64-window64-tables.txt"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: " ")
            guard f.count == 3, let i = Int(f[0]), let a = UInt64(f[1], radix: 16), let b = UInt64(f[2], radix: 16) else { return nil }
            return (i, a, b)
        }
    }
}

/// A temporary directory removed on deinit.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL

    public init(_ label: String = "blockyard-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `bytes` to `name` in this directory and returns the path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
