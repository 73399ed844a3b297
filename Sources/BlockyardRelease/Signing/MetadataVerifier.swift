import BlockyardIO
import Foundation

/// What an update client remembers about the last channel file it accepted, per channel file
/// name: the rollback check compares new metadata against it.
public struct SeenMetadata: Equatable, Sendable, Codable {
    public var version: String
    /// The accepted file's `releaseDate` (when it was issued), if it had one.
    public var releaseDate: String?

    public init(version: String, releaseDate: String?) {
        self.version = version
        self.releaseDate = releaseDate
    }
}

/// The client's small state file: the last accepted metadata per channel file name.
///
///     {"format": 1, "channelFiles": {"latest.yml": {"version": "1.2.0", "releaseDate": "…"}}}
public struct MetadataVerifierState: Equatable, Sendable, Codable {
    public var format = 1
    public var channelFiles: [String: SeenMetadata] = [:]

    public init() {}

    /// Reads the state file; an absent file is the empty state (first run).
    public static func load(path: String) throws(ReleaseError) -> MetadataVerifierState {
        guard FileManager.default.fileExists(atPath: path) else { return MetadataVerifierState() }
        let bytes: [UInt8]
        do {
            bytes = try FileInput.readAll(path: path, limit: 16 << 20)
        } catch {
            throw ReleaseError.input(error)
        }
        do {
            return try JSONDecoder().decode(MetadataVerifierState.self, from: Data(bytes))
        } catch {
            throw ReleaseError(.invalidData, "\(path): not a verifier state file: \(error)")
        }
    }

    /// Writes the state file atomically.
    public func save(path: String) throws(ReleaseError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        do {
            try AtomicFileWriter.write(Array(data) + [10], to: path)
        } catch {
            throw ReleaseError.output(error)
        }
    }
}

/// Why a channel file was rejected.
public enum MetadataVerificationFailure: Equatable, Sendable {
    /// No signature was offered.
    case unsigned
    /// The `.sig` file is not 64 bytes of base64.
    case malformedSignature
    /// The signature does not match this key, this name and these bytes.
    case badSignature
    /// Signed, but the content is not a usable channel file.
    case invalidMetadata(String)
    /// A lower version than the last accepted one, without a later issue date: a rollback attack.
    case olderVersion(offered: String, lastSeen: String)
    /// Issued before the last accepted metadata: a replay of old metadata.
    case replayed(offered: String, lastSeen: String)
}

public struct MetadataVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let failure: MetadataVerificationFailure

    public var description: String {
        switch failure {
        case .unsigned: "\(file): not signed (no \(file)\(ReleaseLayout.signatureSuffix))"
        case .malformedSignature: "\(file): the signature is not a base64 Ed25519 signature"
        case .badSignature: "\(file): bad signature: the file was changed, signed with another key, or signed as another file"
        case .invalidMetadata(let reason): "\(file): signed, but not valid metadata: \(reason)"
        case let .olderVersion(offered, seen):
            "\(file): version \(offered) is older than \(seen), the last version accepted, and was not issued after it (rollback attack?)"
        case let .replayed(offered, seen):
            "\(file): issued \(offered), before the last accepted metadata (\(seen)): replayed old metadata"
        }
    }
}

/// Verifies signed channel files for an update client.
///
/// A file is accepted when
/// 1. its `.sig` is a valid Ed25519 signature by the trusted key over
///    ``ChannelFileSignature/message(name:content:)`` (so the bytes and the file name are
///    authentic), and it parses as a channel file with a semantic version; and
/// 2. it passes the rollback check against the last metadata accepted for the same file name:
///    - a **lower version** is rejected unless its `releaseDate` is later than the last
///      accepted one's. A deliberate rollback (`blockyard release promote`) is issued with a
///      new `releaseDate`; a replayed old file carries its old date;
///    - metadata **issued earlier** (`releaseDate` before the last accepted one) is rejected
///      even for a higher version, so after a rollback the withdrawn release cannot be
///      replayed.
///    When either file has no parseable `releaseDate`, only versions are compared.
public struct MetadataVerifier: Sendable {
    public let publicKey: MetadataPublicKey

    public init(publicKey: MetadataPublicKey) {
        self.publicKey = publicKey
    }

    /// Checks `content` (published as `name`, e.g. `latest.yml`) and its `.sig` text.
    /// - Returns: the parsed metadata and what to remember as last seen.
    public func verify(name: String, content: [UInt8], signature: String?,
                       lastSeen: SeenMetadata?) throws(MetadataVerificationError) -> (info: UpdateInfo, seen: SeenMetadata) {
        func fail(_ failure: MetadataVerificationFailure) -> MetadataVerificationError {
            MetadataVerificationError(file: name, failure: failure)
        }
        guard let signature else { throw fail(.unsigned) }
        guard let raw = ChannelFileSignature.parse(signature) else { throw fail(.malformedSignature) }
        guard publicKey.isValidSignature(raw, for: ChannelFileSignature.message(name: name, content: content)) else {
            throw fail(.badSignature)
        }
        let info: UpdateInfo
        do {
            info = try ChannelDocument(bytes: content).info
        } catch {
            throw fail(.invalidMetadata(error.message))
        }
        // ChannelDocument has validated the version.
        let offered = SemanticVersion(info.version)!
        let seen = SeenMetadata(version: info.version, releaseDate: info.releaseDate)
        guard let lastSeen, let previous = SemanticVersion(lastSeen.version) else { return (info, seen) }
        let offeredDate = info.releaseDate.flatMap(ReleaseTimestamp.milliseconds)
        let previousDate = lastSeen.releaseDate.flatMap(ReleaseTimestamp.milliseconds)
        if offered < previous {
            guard let offeredDate, let previousDate, offeredDate > previousDate else {
                throw fail(.olderVersion(offered: info.version, lastSeen: lastSeen.version))
            }
        } else if let offeredDate, let previousDate, offeredDate < previousDate {
            throw fail(.replayed(offered: info.releaseDate ?? "", lastSeen: lastSeen.releaseDate ?? ""))
        }
        return (info, seen)
    }

    /// ``verify(name:content:signature:lastSeen:)`` against a state file's entry for `name`,
    /// recording the accepted metadata in `state`.
    public func verify(name: String, content: [UInt8], signature: String?,
                       state: inout MetadataVerifierState) throws(MetadataVerificationError) -> UpdateInfo {
        let result = try verify(name: name, content: content, signature: signature, lastSeen: state.channelFiles[name])
        state.channelFiles[name] = result.seen
        return result.info
    }
}
