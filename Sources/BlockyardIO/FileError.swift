import Foundation

/// A failed file operation, naming the file and the reason in one line.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        case notFound
        case isDirectory
        case permissionDenied
        case notRegularFile
        case io
        case other
    }

    public let path: String
    public let kind: Kind
    public let reason: String

    public init(path: String, kind: Kind, reason: String) {
        self.path = path
        self.kind = kind
        self.reason = reason
    }

    /// Builds an error from an `errno` value.
    public init(path: String, errno code: Int32, doing action: String? = nil) {
        let message = String(cString: strerror(code))
        self.path = path
        switch code {
        case ENOENT: kind = .notFound
        case EISDIR: kind = .isDirectory
        case EACCES, EPERM: kind = .permissionDenied
        case EIO: kind = .io
        default: kind = .other
        }
        reason = action.map { "\($0): \(message)" } ?? message
    }

    public var description: String { "\(path): \(reason)" }
}
