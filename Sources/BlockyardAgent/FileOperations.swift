import BlockyardIO
import Foundation

/// The file-system steps installs, backups and rollbacks are made of. Every step either
/// completes or leaves the previous state: copies go to a temporary name and are renamed,
/// swaps are single `rename`s (files) or `renameat2(RENAME_EXCHANGE)` (directories).
enum FileOperations {
    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    static func parent(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().path
    }

    static func name(_ path: String) -> String {
        URL(fileURLWithPath: path).lastPathComponent
    }

    /// Makes `to` a file with the content of `from`: a hard link when both are on one file
    /// system (instant, no space; the agent never writes into files in place, so a shared
    /// inode never changes under a backup), else a copy written to a temporary name, fsync'd
    /// and renamed. `to` must not exist.
    static func linkOrCopy(from: String, to: String) throws(AgentError) {
        if link(from, to) == 0 { return }
        let code = errno
        guard code == EXDEV || code == EPERM || code == EMLINK || code == ENOTSUP else {
            throw AgentError(.io, FileError(path: to, errno: code, doing: "cannot link \(from) here").description)
        }
        try copy(from: from, to: to)
    }

    /// Copies a regular file through a temporary sibling of `to` (fsync, rename).
    static func copy(from: String, to: String) throws(AgentError) {
        let input = open(from, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw AgentError(.io, FileError(path: from, errno: errno, doing: "cannot open").description) }
        defer { close(input) }
        do {
            let writer = try AtomicFileWriter(destination: to)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw FileError(path: from, errno: errno, doing: "read failed") }
                if n == 0 { break }
                try writer.write(n == buffer.count ? buffer : Array(buffer[0..<n]))
            }
            try writer.commit()
        } catch let error as FileError {
            throw AgentError(.io, error.description)
        } catch {
            throw AgentError(.io, "\(to): \(error)")
        }
    }

    /// Recreates directory `from` at `to` (which must not exist), file by file with
    /// ``linkOrCopy(from:to:)``. Symbolic links are copied as links.
    static func cloneTree(from: String, to: String) throws(AgentError) {
        guard mkdir(to, 0o755) == 0 else {
            throw AgentError(.cannotCreate, FileError(path: to, errno: errno, doing: "cannot create the directory").description)
        }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: from).sorted()
        } catch {
            throw AgentError(.io, "\(from): cannot list the directory")
        }
        for entry in entries {
            let source = from + "/" + entry
            let destination = to + "/" + entry
            var st = stat()
            guard lstat(source, &st) == 0 else { throw AgentError(.io, FileError(path: source, errno: errno).description) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: try cloneTree(from: source, to: destination)
            case S_IFREG: try linkOrCopy(from: source, to: destination)
            case S_IFLNK:
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: source)) ?? ""
                guard symlink(target, destination) == 0 else {
                    throw AgentError(.io, FileError(path: destination, errno: errno, doing: "cannot create the link").description)
                }
            default: continue
            }
        }
        fsyncPath(to)
    }

    /// Removes a file or a directory tree; missing is fine.
    static func remove(_ path: String) {
        guard exists(path) else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Atomically puts `staged` at `destination`: `rename` for files (and for a directory
    /// when nothing is at `destination`); for a directory replacing a directory, an atomic
    /// exchange, after which the old directory is at `staged` (the caller removes it).
    /// Returns whether an exchange happened.
    @discardableResult
    static func swap(staged: String, into destination: String) throws(AgentError) -> Bool {
        let directory = isDirectory(staged)
        if directory && isDirectory(destination) {
            guard let exchange = renameExchange else {
                throw AgentError(.io, "\(destination): this system cannot exchange two directories atomically (renameat2 is missing)")
            }
            guard exchange(AT_FDCWD, staged, AT_FDCWD, destination, 2 /* RENAME_EXCHANGE */) == 0 else {
                throw AgentError(.io, FileError(path: destination, errno: errno, doing: "cannot exchange it with \(staged)").description)
            }
            fsyncPath(parent(destination))
            return true
        }
        guard rename(staged, destination) == 0 else {
            throw AgentError(.io, FileError(path: destination, errno: errno, doing: "cannot rename \(staged) over it").description)
        }
        fsyncPath(parent(destination))
        return false
    }

    /// fsync of a file or directory by path (errors ignored: best effort on exotic file systems).
    static func fsyncPath(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// `renameat2`, looked up at run time (glibc ≥ 2.28 has it; Swift's Glibc module does not
    /// declare it).
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameExchange: RenameAt2? = {
        guard let symbol = dlsym(nil, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename, directory fsync).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(AgentError) {
        do {
            try AtomicFileWriter.write(bytes, to: path)
        } catch {
            throw AgentError(.io, error.description)
        }
    }
}
