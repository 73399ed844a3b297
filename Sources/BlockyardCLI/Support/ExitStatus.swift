import ArgumentParser
import BlockyardCore
import BlockyardIO

/// Blockyard's documented exit codes (sysexits-style; see `blockyard --help`).
public enum ExitStatus {
    public static let checkFailed = ExitCode(1)
    public static let usage = ExitCode(64)
    public static let dataError = ExitCode(65)
    public static let noInput = ExitCode(66)
    public static let cannotCreate = ExitCode(73)
    public static let ioError = ExitCode(74)
    public static let locked = ExitCode(75)

    /// The exit code of a failure category.
    public static func code(for kind: FailureKind) -> ExitCode {
        switch kind {
        case .usage: return usage
        case .invalidData: return dataError
        case .missingInput: return noInput
        case .cannotCreate: return cannotCreate
        case .io: return ioError
        case .checkFailed: return checkFailed
        case .locked: return locked
        }
    }

    /// The exit code for a file error while reading an input.
    public static func forInput(_ error: FileError) -> ExitCode {
        switch error.kind {
        case .notFound, .isDirectory, .permissionDenied, .notRegularFile: return noInput
        case .io, .other: return ioError
        }
    }
}

