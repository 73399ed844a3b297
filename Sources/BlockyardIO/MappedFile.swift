import Foundation

/// A regular file mapped read-only into memory. Pages are read from the page cache on demand
/// and can be dropped from this process (``release(upTo:)``) once no longer needed, so the
/// resident size stays bounded however large the file is.
final class MappedFile: @unchecked Sendable {
    let path: String
    let size: Int
    let base: UnsafePointer<UInt8>
    private let descriptor: Int32
    private var released = 0
    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    init(path: String) throws(FileError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw FileError(path: path, errno: code)
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            let kind: FileError.Kind = st.st_mode & S_IFMT == S_IFDIR ? .isDirectory : .notRegularFile
            throw FileError(path: path, kind: kind, reason: kind == .isDirectory ? "is a directory" : "not a regular file")
        }
        guard st.st_size > 0 else {
            close(fd)
            throw FileError(path: path, kind: .other, reason: "cannot map an empty file")
        }
        let length = Int(st.st_size)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let code = errno
            close(fd)
            throw FileError(path: path, errno: code, doing: "mmap failed")
        }
        madvise(mapping, length, MADV_SEQUENTIAL)
        descriptor = fd
        size = length
        base = UnsafePointer(mapping.assumingMemoryBound(to: UInt8.self))
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
        close(descriptor)
    }

    /// Drops the pages before `offset` from this process's memory (they stay in the page
    /// cache; touching them again just maps them back).
    func release(upTo offset: Int) {
        let end = offset / Self.pageSize * Self.pageSize
        guard end > released else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + released), end - released, MADV_DONTNEED)
        released = end
    }

    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}
