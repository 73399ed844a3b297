import Foundation

/// The store's single-writer lock: an exclusive `flock` on `write.lock` in the store
/// directory, held by every command that changes the store (add, rm, gc) for its whole run.
///
/// LMDB serialises write transactions by itself, but an add spans many transactions (chunk
/// batches, then the manifest), and gc must never run between them: it would delete chunks
/// that the add has stored but not yet referenced. Readers never take this lock.
/// The kernel releases a `flock` when its holder dies, so a killed writer leaves no stale lock.
final class WriterLock {
    static let fileName = "write.lock"
    private let descriptor: Int32

    /// Takes the lock, or throws `StoreError.locked` naming the holder (unless `wait`).
    init(directory: String, wait: Bool, purpose: String) throws(StoreError) {
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError.file(.init(path: path, errno: errno, doing: "cannot open the writer lock"))
        }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK {
                var buffer = [UInt8](repeating: 0, count: 512)
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
                close(fd)
                let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                throw StoreError.locked(path: directory, holder: text.isEmpty ? "unknown process" : text)
            }
            close(fd)
            throw StoreError.file(.init(path: path, errno: code, doing: "cannot lock"))
        }
        descriptor = fd
        // Say who holds it, for the error message of the next writer.
        let note = "pid \(getpid()), \(purpose), since \(ISO8601DateFormatter().string(from: Date()))\n"
        ftruncate(fd, 0)
        _ = note.utf8CString.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count - 1, 0) }
    }

    deinit {
        ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
