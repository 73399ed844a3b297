import BlockyardIO
import CArchive
import Foundation

/// The members of a tar (plain or compressed) or zip archive, read with libarchive in one
/// sequential pass. Regular files become members with their data streamed straight from
/// the decompressor; symbolic links and tar hard links are recorded; directories are implied
/// by the member paths; other entry types are skipped with a warning.
final class ArchiveSource: IngestSource {
    let path: String
    let format: String
    let size: Int
    private let archive: OpaquePointer
    private(set) var warnings: [String] = []
    private var finished = false

    init(path: String, format: String, size: Int) throws(StoreError) {
        self.path = path
        self.format = format
        self.size = size
        guard let a = archive_read_new() else { fatalError("archive_read_new: out of memory") }
        archive = a
        archive_read_support_filter_all(a)
        archive_read_support_format_all(a)
        if archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK {
            let reason = Self.message(a, fallback: "cannot open the archive")
            let code = archive_errno(a)
            // deinit frees the archive (every stored property is set by now).
            if code == ENOENT || code == EACCES { throw StoreError.file(FileError(path: path, errno: code)) }
            throw StoreError.invalidInput(path: path, reason: reason)
        }
    }

    deinit { archive_read_free(archive) }

    var kind: SourceKind { .archive(format: format) }
    var sourceName: String { (path as NSString).lastPathComponent }
    /// Compressed archives hold more than their size; the map grows on demand for the rest.
    var estimatedSize: Int? { size }

    static func message(_ a: OpaquePointer, fallback: String) -> String {
        guard let text = archive_error_string(a) else { return fallback }
        return String(cString: text)
    }

    func next() throws -> IngestMember? {
        guard !finished else { return nil }
        while true {
            var entry: OpaquePointer?
            let rc = archive_read_next_header(archive, &entry)
            if rc == ARCHIVE_EOF {
                finished = true
                return nil
            }
            if rc == ARCHIVE_WARN {
                warnings.append(Self.message(archive, fallback: "warning while reading a header"))
            } else if rc != ARCHIVE_OK {
                throw StoreError.invalidInput(path: path, reason: Self.message(archive, fallback: "unreadable archive header"))
            }
            guard let entry else { continue }
            let rawPath: String
            if let p = archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry) {
                rawPath = String(cString: p)
            } else {
                throw StoreError.invalidInput(path: path, reason: "an entry has no readable path name")
            }
            guard let memberPath = try IngestSources.normalize(rawPath, in: path) else { continue }
            let type = UInt32(archive_entry_filetype(entry)) & 0o170000
            let mode = UInt32(archive_entry_perm(entry)) & 0o7777
            if let link = archive_entry_hardlink(entry), archive_entry_size(entry) == 0 {
                let target = String(cString: link)
                guard let normalized = try IngestSources.normalize(target, in: path) else {
                    throw StoreError.invalidInput(path: path, reason: "hard link \(rawPath.debugDescription) has no target")
                }
                return IngestMember(path: memberPath, mode: mode, content: .hardlink(to: normalized))
            }
            switch type {
            case 0o100000: // AE_IFREG
                let sizeHint = archive_entry_size_is_set(entry) != 0 ? Int(archive_entry_size(entry)) : nil
                return IngestMember(path: memberPath, mode: mode, content: .stream(EntryStream(source: self), sizeHint: sizeHint))
            case 0o120000: // AE_IFLNK
                let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
                return IngestMember(path: memberPath, mode: mode, content: .symlink(target: target))
            case 0o040000: // AE_IFDIR
                continue
            default:
                warnings.append("\(rawPath): skipped (not a regular file, directory or link)")
                continue
            }
        }
    }

    /// Reads the data of the current entry.
    fileprivate func readData(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = archive_read_data(archive, buffer.baseAddress, buffer.count)
        if n < 0 {
            if n == ARCHIVE_WARN {
                warnings.append(Self.message(archive, fallback: "warning while reading data"))
                return 0
            }
            throw StoreError.invalidInput(path: path, reason: Self.message(archive, fallback: "unreadable member data"))
        }
        return n
    }
}

/// The data of the archive's current entry (valid until the next header is read).
private final class EntryStream: ByteStream {
    let source: ArchiveSource

    init(source: ArchiveSource) { self.source = source }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = try source.readData(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }
}
