import BlockyardCore
/// Why an update (or an apply from an HTTP source) failed: one line for the user and a
/// category the command line maps to its exit code.
///
/// Whatever the kind, nothing partial is ever left at the output path, and the installed
/// file is never modified. After a network failure the downloaded ranges are kept beside
/// the output (see ``PartialDownload``) so that running the same command again resumes.
public struct UpdateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, as an exit-code category (`FailureKind`).
    public typealias Kind = FailureKind

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
