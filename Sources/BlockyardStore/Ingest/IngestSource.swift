import BlockyardIO
import Foundation

/// Bytes read in order, once.
protocol ByteStream: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

final class FileStream: ByteStream {
    let input: FileInput

    init(path: String) throws(StoreError) {
        do { input = try FileInput(path: path) } catch { throw StoreError.file(error) }
        if input.regularFileSize != nil { posix_fadvise(input.descriptor, 0, 0, POSIX_FADV_SEQUENTIAL) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try input.readFully(into: buffer)
    }
}

/// A stream whose first bytes can be looked at before they are read (for format detection).
final class PeekableStream: ByteStream {
    private let base: ByteStream
    private var head: [UInt8] = []
    private var headPosition = 0
    private var baseEnded = false
    private var headDone = false

    init(_ base: ByteStream) { self.base = base }

    /// The first `count` bytes of the stream (fewer if it is shorter). Only before any read.
    func peek(_ count: Int) throws -> [UInt8] {
        try withPeeked(count) { Array($0) }
    }

    /// Calls `body` with the first `count` bytes of the stream (fewer if it is shorter),
    /// without copying them again. Only before any read.
    func withPeeked<R>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        precondition(!headDone && headPosition == 0, "peek after read")
        if head.count < count && !baseEnded {
            // Read straight into the head (one buffer, however large the header).
            var filled = head.count
            head.append(contentsOf: repeatElement(0, count: count - head.count))
            while filled < count {
                let n = try head.withUnsafeMutableBytes { try base.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                if n == 0 { baseEnded = true; break }
                filled += n
            }
            head.removeLast(head.count - filled)
        }
        return try head.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if headPosition < head.count {
            let n = min(buffer.count, head.count - headPosition)
            head.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + headPosition, byteCount: n) }
            headPosition += n
            if headPosition == head.count { head = []; headPosition = 0; headDone = true }
            // Top up from the base stream so reads stay large.
            if n < buffer.count && !baseEnded {
                let more = try base.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[n...]))
                if more == 0 { baseEnded = true }
                return n + more
            }
            return n
        }
        if baseEnded { return 0 }
        let n = try base.read(into: buffer)
        if n == 0 { baseEnded = true }
        return n
    }
}

/// One file of the version being added.
struct IngestMember {
    enum Content {
        case stream(ByteStream, sizeHint: Int?)
        case symlink(target: String)
        /// A tar hard link: the same content as the earlier member at that path.
        case hardlink(to: String)
    }

    var path: String
    var mode: UInt32
    var content: Content
}

/// What `store add` reads: one file, a directory or an archive.
protocol IngestSource: AnyObject {
    var kind: SourceKind { get }
    var sourceName: String { get }
    /// Bytes expected (to grow the map ahead of time); nil when unknown.
    var estimatedSize: Int? { get }
    /// Things skipped, for the report.
    var warnings: [String] { get }
    func next() throws -> IngestMember?
}

enum IngestSources {
    /// Archive formats unpacked by default, by file name.
    static func archiveFormat(of path: String) -> String? {
        let name = (path as NSString).lastPathComponent.lowercased()
        let table: [(String, String)] = [
            (".tar", "tar"), (".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar.bz2", "tar.bz2"),
            (".tbz2", "tar.bz2"), (".tar.xz", "tar.xz"), (".txz", "tar.xz"), (".tar.zst", "tar.zst"),
            (".zip", "zip"),
        ]
        return table.first { name.hasSuffix($0.0) }?.1
    }

    /// The source for `path`: a directory, an archive (unless `unpack` is false; by name
    /// when nil) or a single file.
    static func open(path: String, unpack: Bool?, excluding excluded: String?) throws(StoreError) -> IngestSource {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StoreError.file(FileError(path: path, errno: errno)) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            return try DirectorySource(root: path, excluding: excluded)
        case S_IFREG:
            if unpack != false, let format = archiveFormat(of: path) {
                return try ArchiveSource(path: path, format: format, size: Int(st.st_size))
            }
            if unpack == true {
                return try ArchiveSource(path: path, format: "archive", size: Int(st.st_size))
            }
            return SingleFileSource(path: path, size: Int(st.st_size), mode: UInt32(st.st_mode & 0o7777))
        default:
            throw StoreError.file(FileError(path: path, kind: .notRegularFile, reason: "not a regular file or directory"))
        }
    }

    /// A member path as stored: relative, `/`-separated, without `.` components. Absolute
    /// paths and `..` are refused (they could escape the directory on export).
    static func normalize(_ raw: String, in container: String) throws(StoreError) -> String? {
        guard !raw.hasPrefix("/") else {
            throw StoreError.invalidInput(path: container, reason: "member \(raw.debugDescription) has an absolute path")
        }
        let parts = raw.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.contains("..") else {
            throw StoreError.invalidInput(path: container, reason: "member \(raw.debugDescription) has a '..' component")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }
}

final class SingleFileSource: IngestSource {
    let path: String
    let size: Int
    let mode: UInt32
    private var done = false

    init(path: String, size: Int, mode: UInt32) {
        self.path = path
        self.size = size
        self.mode = mode
    }

    var kind: SourceKind { .file }
    var sourceName: String { (path as NSString).lastPathComponent }
    var estimatedSize: Int? { size }
    var warnings: [String] { [] }

    func next() throws -> IngestMember? {
        guard !done else { return nil }
        done = true
        return IngestMember(path: sourceName, mode: mode, content: .stream(try FileStream(path: path), sizeHint: size))
    }
}

/// A directory tree: regular files and symbolic links (not followed), in byte order of their
/// relative paths. Other file types are skipped with a warning.
final class DirectorySource: IngestSource {
    private struct Entry {
        var relative: String
        var absolute: String
        var isLink: Bool
        var mode: UInt32
        var size: Int
    }

    let root: String
    private var entries: [Entry] = []
    private var index = 0
    private(set) var warnings: [String] = []
    let estimatedSize: Int?

    init(root: String, excluding excluded: String?) throws(StoreError) {
        self.root = root
        var excludedID: (dev_t, ino_t)?
        if let excluded {
            var st = stat()
            if stat(excluded, &st) == 0 { excludedID = (st.st_dev, st.st_ino) }
        }
        var found: [Entry] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root + "/" + relative
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw StoreError.file(FileError(path: directory, kind: .other, reason: "cannot list the directory: \(error.localizedDescription)"))
            }
            for name in names {
                let rel = relative.isEmpty ? name : relative + "/" + name
                let abs = root + "/" + rel
                var st = stat()
                guard lstat(abs, &st) == 0 else { throw StoreError.file(FileError(path: abs, errno: errno)) }
                if let excludedID, st.st_dev == excludedID.0, st.st_ino == excludedID.1 {
                    warnings.append("\(rel): skipped (it is the store itself)")
                    continue
                }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: pending.append(rel)
                case S_IFREG: found.append(Entry(relative: rel, absolute: abs, isLink: false, mode: UInt32(st.st_mode & 0o7777), size: Int(st.st_size)))
                case S_IFLNK: found.append(Entry(relative: rel, absolute: abs, isLink: true, mode: UInt32(st.st_mode & 0o7777), size: 0))
                default: warnings.append("\(rel): skipped (not a regular file, directory or symbolic link)")
                }
            }
        }
        entries = found.sorted { Array($0.relative.utf8).lexicographicallyPrecedes(Array($1.relative.utf8)) }
        estimatedSize = entries.reduce(0) { $0 + $1.size }
    }

    var kind: SourceKind { .directory }
    var sourceName: String { (root as NSString).standardizingPath.split(separator: "/").last.map(String.init) ?? root }

    func next() throws -> IngestMember? {
        guard index < entries.count else { return nil }
        let entry = entries[index]
        index += 1
        if entry.isLink {
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: entry.absolute)
            return IngestMember(path: entry.relative, mode: entry.mode, content: .symlink(target: target))
        }
        return IngestMember(path: entry.relative, mode: entry.mode,
                            content: .stream(try FileStream(path: entry.absolute), sizeHint: entry.size))
    }
}
