import BlockyardIO
import Foundation

/// What `store export` has created so far under its directory, so that a failure takes all
/// of it back: every regular file is first written and verified under a temporary name
/// (``stage(_:mode:)``), and only when all of them are complete are they renamed into place
/// (``place()``) and the symbolic links created (``link(_:to:replacing:)``). ``rollback()``
/// removes the temporary files, the files and links that did not exist before, and the
/// directories this export created. (A file that `--force` already replaced cannot be
/// restored; that happens only if a rename or symlink fails after every file was verified.)
struct ExportStaging {
    let root: String
    private var createdDirectories: [String] = []
    private var staged: [(temporary: String, destination: String)] = []
    /// Files and links put in place that did not exist before.
    private var placed: [String] = []

    init(root: String) { self.root = root }

    /// Creates the directories of `relative`'s parent under the root, refusing to pass through
    /// anything that is not a real directory (a symbolic link could lead outside the root).
    mutating func makeParents(of relative: String) throws(StoreError) {
        var path = root
        try makeDirectory(root, following: true)
        for component in relative.split(separator: "/").dropLast() {
            path += "/" + component
            try makeDirectory(path)
        }
    }

    /// Creates `path` unless it is a directory; `following` lets the root itself be a
    /// symbolic link to one (the user named it).
    private mutating func makeDirectory(_ path: String, following: Bool = false) throws(StoreError) {
        var st = stat()
        if (following ? stat(path, &st) : lstat(path, &st)) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw StoreError.file(FileError(path: path, kind: .other, reason: "exists and is not a directory; not exporting through it"))
            }
            return
        }
        guard mkdir(path, 0o755) == 0 else {
            throw StoreError.file(FileError(path: path, errno: errno, doing: "cannot create the directory"))
        }
        createdDirectories.append(path)
    }

    /// A new temporary file beside `destination` (under a created parent), open for writing;
    /// the caller writes, verifies and hands it to ``finish(_:descriptor:mode:)``.
    mutating func stage(_ destination: String, mode: mode_t) throws(StoreError) -> (descriptor: Int32, temporary: String) {
        let url = URL(fileURLWithPath: destination)
        var template = Array("\(url.deletingLastPathComponent().path)/.\(url.lastPathComponent).blockyard-tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw StoreError.file(FileError(path: destination, errno: errno, doing: "cannot create a temporary file beside it"))
        }
        let temporary = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        staged.append((temporary, destination))
        fchmod(fd, mode)
        return (fd, temporary)
    }

    /// Sets the mode, flushes and closes a staged file whose bytes were verified.
    func finish(_ destination: String, descriptor fd: Int32, mode: mode_t) throws(StoreError) {
        fchmod(fd, mode)
        let synced = fsync(fd) == 0
        let code = errno
        guard close(fd) == 0, synced else {
            throw StoreError.file(FileError(path: destination, errno: synced ? errno : code, doing: "cannot write the file"))
        }
    }

    /// Renames every staged file into place (all of them were written and verified).
    mutating func place() throws(StoreError) {
        while !staged.isEmpty {
            let (temporary, destination) = staged[0]
            var st = stat()
            let existed = lstat(destination, &st) == 0
            guard rename(temporary, destination) == 0 else {
                throw StoreError.file(FileError(path: destination, errno: errno, doing: "rename failed"))
            }
            staged.removeFirst()
            if !existed { placed.append(destination) }
        }
    }

    /// Creates the symbolic link `path` → `target`, replacing what is there when `replacing`.
    mutating func link(_ path: String, to target: String, replacing: Bool) throws(StoreError) {
        var st = stat()
        let existed = lstat(path, &st) == 0
        if existed && replacing { unlink(path) }
        guard symlink(target, path) == 0 else {
            throw StoreError.file(FileError(path: path, errno: errno, doing: "cannot create the symbolic link"))
        }
        if !existed { placed.append(path) }
    }

    /// fsyncs every directory that received a file, so the renames survive a crash.
    func syncDirectories(of paths: [String]) {
        for directory in Set(paths.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }) {
            let fd = open(directory, O_RDONLY | O_DIRECTORY)
            if fd >= 0 {
                fsync(fd)
                close(fd)
            }
        }
    }

    /// Removes everything this export created.
    mutating func rollback() {
        for (temporary, _) in staged { unlink(temporary) }
        for path in placed.reversed() { unlink(path) }
        for directory in createdDirectories.reversed() { rmdir(directory) }
        staged = []
        placed = []
        createdDirectories = []
    }
}
