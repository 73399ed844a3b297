import BlockyardIO
import Foundation

/// Everything the store reports, each with a one-line description naming what to do.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// No store at the path (`store init` creates one).
    case missing(path: String)
    /// The path holds something that is not a Blockyard store.
    case notAStore(path: String, reason: String)
    /// The store was written by a newer Blockyard.
    case newerFormat(path: String, found: Int, supported: Int)
    /// Another process is changing the store.
    case locked(path: String, holder: String)
    case invalidReference(String)
    case versionNotFound(VersionRef)
    case versionExists(VersionRef)
    case memberNotFound(VersionRef, member: String)
    /// The version has several members and none was chosen.
    case memberRequired(VersionRef, members: Int)
    case invalidInput(path: String, reason: String)
    case corruptManifest(String)
    /// Stored data does not match what the manifest promises.
    case corruption(String)
    case file(FileError)
    case lmdb(LMDBError, path: String)

    public var description: String {
        switch self {
        case .missing(let path):
            return "no store at \(path) (create one with `blockyard store init --path \(path)`)"
        case .notAStore(let path, let reason):
            return "\(path) is not a Blockyard store: \(reason)"
        case .newerFormat(let path, let found, let supported):
            return "the store at \(path) has format version \(found), but this blockyard reads only up to version \(supported); upgrade blockyard"
        case .locked(let path, let holder):
            return "the store at \(path) is locked by another writer (\(holder)); try again when it has finished, or pass --wait"
        case .invalidReference(let why):
            return "invalid NAME@VERSION: \(why)"
        case .versionNotFound(let ref):
            return "\(ref) is not in the store (see `blockyard store ls`)"
        case .versionExists(let ref):
            return "\(ref) is already stored with different content; remove it first with `blockyard store rm \(ref)`"
        case .memberNotFound(let ref, let member):
            return "\(ref) has no member \(member.debugDescription) (see `blockyard store ls \(ref)`)"
        case .memberRequired(let ref, let members):
            return "\(ref) has \(members) members; choose one with --member PATH, or use `blockyard store export`"
        case .invalidInput(let path, let reason):
            return "\(path): \(reason)"
        case .corruptManifest(let why):
            return "corrupt manifest: \(why)"
        case .corruption(let why):
            return "store corruption: \(why)"
        case .file(let error):
            return error.description
        case .lmdb(let error, let path) where error.code == ENOSPC || error.code == EDQUOT:
            let what = error.code == ENOSPC ? "no space left on device" : "disk quota exceeded"
            return "\(path): \(what) (\(error.operation) failed); the store keeps its last complete state: free some space and run the command again"
        case .lmdb(let error, let path):
            return "\(path): \(error)"
        }
    }
}
