import BlockyardCore
import BlockyardIO

/// A failed release, signing or publishing operation, with the reason in one line and a
/// category the command line maps to its exit code.
public struct ReleaseError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, as an exit-code category (`FailureKind`).
    public typealias Kind = FailureKind

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Wraps a file error from an input.
    static func input(_ error: FileError) -> ReleaseError {
        switch error.kind {
        case .notFound, .isDirectory, .permissionDenied, .notRegularFile: ReleaseError(.missingInput, error.description)
        case .io, .other: ReleaseError(.io, error.description)
        }
    }

    /// Wraps a file error from an output.
    static func output(_ error: FileError) -> ReleaseError {
        ReleaseError(.cannotCreate, error.description)
    }
}
