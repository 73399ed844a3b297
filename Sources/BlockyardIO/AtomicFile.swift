import Foundation

/// Writes a file so that readers only ever see the old complete file or the new complete
/// file: data goes to a temporary name in the same directory, is fsync'd, then renamed over
/// the destination, and the directory is fsync'd. Abandoning the writer (or any error) removes
/// the temporary file and leaves the destination untouched.
public final class AtomicFileWriter {
    public let destination: String
    public let temporaryPath: String
    private var descriptor: Int32
    private var committed = false
    /// Bytes written so far.
    public private(set) var bytesWritten = 0

    /// Creates `destination`'s temporary sibling (`.NAME.blockyard-tmp-XXXXXX`).
    /// - Parameter permissions: mode of the new file (default 0644; kept if the file exists).
    public init(destination: String, permissions: mode_t = 0o644) throws(FileError) {
        self.destination = destination
        let url = URL(fileURLWithPath: destination)
        let directory = url.deletingLastPathComponent().path
        var template = Array("\(directory)/.\(url.lastPathComponent).blockyard-tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileError(path: destination, errno: errno, doing: "cannot create a temporary file beside it") }
        descriptor = fd
        temporaryPath = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        var st = stat()
        let mode = stat(destination, &st) == 0 ? st.st_mode & 0o7777 : permissions
        fchmod(fd, mode)
    }

    deinit {
        if !committed {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporaryPath)
        }
    }

    /// Appends bytes to the temporary file.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: destination, errno: errno, doing: "write failed")
            }
            done += n
        }
        bytesWritten += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws(FileError) {
        let result = bytes.withUnsafeBytes { b in Result { () throws(FileError) in try write(b) } }
        try result.get()
    }

    /// Writes at an absolute offset of the temporary file (for out-of-order assembly).
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(FileError) {
        var done = 0
        while done < bytes.count {
            let n = Foundation.pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: destination, errno: errno, doing: "write failed")
            }
            done += n
        }
    }

    /// The temporary file's descriptor, for verification reads before ``commit()``.
    public var fileDescriptor: Int32 { descriptor }

    /// fsyncs the data, renames the temporary file over the destination and fsyncs the
    /// directory. After this the writer is finished.
    public func commit() throws(FileError) {
        precondition(!committed, "AtomicFileWriter.commit called twice")
        guard fsync(descriptor) == 0 else { throw FileError(path: destination, errno: errno, doing: "fsync failed") }
        guard close(descriptor) == 0 else {
            descriptor = -1
            throw FileError(path: destination, errno: errno, doing: "close failed")
        }
        descriptor = -1
        guard rename(temporaryPath, destination) == 0 else {
            throw FileError(path: destination, errno: errno, doing: "rename failed")
        }
        committed = true
        AtomicFileWriter.syncDirectory(of: destination)
    }

    /// Removes the temporary file; the destination is untouched.
    public func abandon() {
        guard !committed else { return }
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
        unlink(temporaryPath)
        committed = true
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        let writer = try AtomicFileWriter(destination: path)
        try writer.write(bytes)
        try writer.commit()
    }

    /// fsyncs the directory holding `path`, so a completed rename survives a crash.
    public static func syncDirectory(of path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
