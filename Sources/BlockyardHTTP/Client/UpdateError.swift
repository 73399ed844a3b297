import BlockyardCore
/// Why an update (or an apply from an HTTP source) failed: one line for the user and a
/// category the command line maps to its exit code.
///
/// Whatever the kind, nothing partial is ever left at the output path, and the installed
/// file is never modified. The downloaded ranges are kept beside the output (see
/// ``PartialDownload``) only after a ``transient`` failure, so that running the same command
/// again resumes; after any other failure nothing is left behind.
public struct UpdateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, as an exit-code category (`FailureKind`).
    public typealias Kind = FailureKind

    public let kind: Kind
    public let message: String
    /// A network failure that outlasted the retries (connection errors, timeouts, bodies cut
    /// short, 408/425/429/5xx) or an interruption: running again may get past it.
    public let transient: Bool

    public init(_ kind: Kind, _ message: String, transient: Bool = false) {
        self.kind = kind
        self.message = message
        self.transient = transient
    }

    public var description: String { message }
}
