/// The categories every layer's errors fall into, one per documented exit code, so the
/// release, HTTP and agent layers classify failures the same way and the command line maps
/// them in one place (`ExitStatus.code(for:)`).
public enum FailureKind: String, Sendable, Equatable, Codable {
    /// Bad arguments or options (exit 64).
    case usage
    /// Malformed input data: metadata, a blockmap, a key, a server reply (exit 65).
    case invalidData
    /// A required input is missing: a file, a version, a channel file (exit 66).
    case missingInput
    /// An output could not be created, or creating it would overwrite something that must
    /// not change (exit 73).
    case cannotCreate
    /// A local or network I/O failure, after any retries (exit 74).
    case io
    /// A check failed: a digest, a signature, the rollback rule, a health check (exit 1).
    case checkFailed
    /// Another process holds the lock (a store writer, a running agent operation) (exit 75).
    case locked
}
