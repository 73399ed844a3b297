import Foundation

/// An open input file or stream (`-` is standard input), read with `read(2)` in large blocks.
public final class FileInput {
    public let path: String
    public let descriptor: Int32
    /// Size of a regular file; nil for pipes, FIFOs, terminals.
    public let regularFileSize: Int?
    private let ownsDescriptor: Bool

    /// Opens `path` for reading. Directories and missing files fail with a precise reason.
    public init(path: String) throws(FileError) {
        self.path = path
        if path == "-" {
            descriptor = STDIN_FILENO
            ownsDescriptor = false
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(path: path, errno: errno) }
            descriptor = fd
            ownsDescriptor = true
        }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else {
            let code = errno
            if ownsDescriptor { close(descriptor) }
            throw FileError(path: path, errno: code)
        }
        let type = st.st_mode & S_IFMT
        if type == S_IFDIR {
            if ownsDescriptor { close(descriptor) }
            throw FileError(path: path, kind: .isDirectory, reason: "is a directory")
        }
        regularFileSize = type == S_IFREG ? Int(st.st_size) : nil
    }

    deinit { if ownsDescriptor { close(descriptor) } }

    /// Reads up to `buffer.count` bytes, retrying on EINTR. Returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> Int {
        while true {
            let n = Foundation.read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw FileError(path: path, errno: errno, doing: "read failed")
        }
    }

    /// Fills `buffer` as far as possible (short only at end of file).
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(FileError) -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// Reads `count` bytes at `offset` (regular files). Fails if the file is shorter.
    public func pread(offset: Int, count: Int) throws(FileError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: FileError?
        out.withUnsafeMutableBytes { buf in
            while done < count {
                let n = Foundation.pread(descriptor, buf.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = FileError(path: path, errno: errno, doing: "read failed")
                    return
                }
                if n == 0 {
                    failure = FileError(path: path, kind: .io, reason: "unexpected end of file at byte \(offset + done) (wanted \(count) bytes at \(offset))")
                    return
                }
                done += n
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Calls `body` with each block of the input in order, reading `blockSize` bytes at a time
    /// into one reused buffer.
    public func forEachBlock(blockSize: Int = 4 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = try readFully(into: buffer)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            if n < blockSize { return }
        }
    }

    /// Reads the whole input into memory.
    public static func readAll(path: String, limit: Int = Int.max) throws(FileError) -> [UInt8] {
        let input = try FileInput(path: path)
        var out: [UInt8] = []
        if let size = input.regularFileSize {
            if size > limit { throw FileError(path: path, kind: .other, reason: "file is \(size) bytes, more than the limit of \(limit)") }
            out.reserveCapacity(size)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = try chunk.withUnsafeMutableBytes { buf in Result { () throws(FileError) in try input.read(into: buf) } }.get()
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw FileError(path: path, kind: .other, reason: "input exceeds the limit of \(limit) bytes") }
        }
        return out
    }
}
