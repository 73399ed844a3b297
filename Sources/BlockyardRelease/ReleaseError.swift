import BlockyardIO

/// A failed release, signing or publishing operation, with the reason in one line and a
/// category the command line maps to its exit code.
public struct ReleaseError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Bad arguments: an invalid version, channel or percentage, or an operation that
        /// needs an option that was not given (exit 64).
        case usage
        /// Malformed input data: a channel file, manifest, key or server reply (exit 65).
        case invalidData
        /// A required input is missing: an artifact, a version's manifest, a channel file (exit 66).
        case missingInput
        /// An output could not be created, or creating it would overwrite something that
        /// must not change, such as a published artifact with different bytes (exit 73).
        case cannotCreate
        /// A local or network I/O failure (exit 74).
        case io
        /// A check failed: a signature, a rollback check, a publish safety check (exit 1).
        case checkFailed
    }

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
