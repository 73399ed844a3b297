import Foundation

/// The state directory's lock (`lock`, `flock`): one operation that changes state at a time,
/// across processes (`agent` commands and `agent serve`). Reads (`status`) never wait for it.
final class AgentLock {
    private let fd: Int32

    /// Takes the lock, waiting up to `wait` seconds for another operation to finish (quick
    /// settings changes wait; long operations fail at once), else fails with
    /// ``AgentError/Kind/locked``.
    init(path: String, operation: String, wait: Double = 0) throws(AgentError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw AgentError(.cannotCreate, "\(path): cannot open the lock file (\(String(cString: strerror(errno))))")
        }
        let deadline = Date().addingTimeInterval(wait)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 && Date() < deadline {
            usleep(5_000)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw AgentError(.locked, "cannot \(operation): another agent operation is running\(holder.isEmpty ? "" : " (\(holder))")")
        }
        self.fd = fd
        let note = Array("pid \(getpid()): \(operation)\n".utf8)
        ftruncate(fd, 0)
        _ = note.withUnsafeBytes { pwrite(fd, $0.baseAddress!, $0.count, 0) }
    }

    /// Whether some process holds the lock now.
    static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    deinit {
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
