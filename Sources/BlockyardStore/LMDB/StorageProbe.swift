import Foundation

/// Finds out whether a filesystem is out of space for this process, to tell a full disk
/// from a real I/O error after a failed write.
enum StorageProbe {
    /// How much the probe asks for: more than the few blocks a filesystem may still have
    /// after it refused part of a write, much less than any transaction the store writes.
    static let probeBytes = 64 << 10

    /// `ENOSPC` or `EDQUOT` when a new file in `directory` cannot get `probeBytes` of blocks
    /// now, nil when it can (or when the directory cannot be probed). The probe file is
    /// removed again.
    static func spaceError(in directory: String) -> Int32? {
        var template = Array("\(directory)/.blockyard-space-probe-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd < 0 {
            // Creating the file needs space too (an inode, a directory block).
            return errno == ENOSPC || errno == EDQUOT ? errno : nil
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(fd) }
        // posix_fallocate returns the error instead of setting errno.
        let rc = posix_fallocate(fd, 0, off_t(probeBytes))
        return rc == ENOSPC || rc == EDQUOT ? rc : nil
    }
}
