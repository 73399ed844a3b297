import Foundation

/// Crash points for the reliability tests: when `BLOCKYARD_AGENT_CRASH_AT` names a point
/// (`install:backup`, `install:staged`, `install:swapped`, `rollback:staged`,
/// `rollback:swapped`), the process kills itself with SIGKILL there, exactly as a power cut or
/// `kill -9` would stop it. Unset (always, outside tests), nothing happens.
enum FaultInjection {
    private static let target = ProcessInfo.processInfo.environment["BLOCKYARD_AGENT_CRASH_AT"]

    static func point(_ name: String) {
        guard let target, target == name else { return }
        kill(getpid(), SIGKILL)
    }
}
