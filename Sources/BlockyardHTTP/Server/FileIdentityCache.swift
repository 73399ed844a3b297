import BlockyardCore
import BlockyardIO
import Foundation

/// The identity of a file's content as `stat` sees it: when none of these change, the bytes
/// are taken to be the same.
struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64
    let size: Int
    let mtime: Int64
    let mtimeNanos: Int64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int(st.st_size)
        mtime = Int64(st.st_mtim.tv_sec)
        mtimeNanos = Int64(st.st_mtim.tv_nsec)
    }
}

/// Values computed from a file's bytes (its SHA-256, a parsed channel file), computed once
/// per ``FileIdentity`` and kept for a bounded number of files.
final class FileIdentityCache<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [FileIdentity: Value] = [:]
    private var order: [FileIdentity] = []
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func value(for identity: FileIdentity) -> Value? {
        lock.withLock { values[identity] }
    }

    func store(_ value: Value, for identity: FileIdentity) {
        lock.withLock {
            if values.updateValue(value, forKey: identity) == nil {
                order.append(identity)
                if order.count > limit { values[order.removeFirst()] = nil }
            }
        }
    }
}

/// Small caches keyed by a string (rebuilt blockmaps, generated pages), least recently
/// stored evicted first.
final class BoundedCache<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Value] = [:]
    private var order: [String] = []
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func value(for key: String) -> Value? {
        lock.withLock { values[key] }
    }

    func store(_ value: Value, for key: String) {
        lock.withLock {
            if values.updateValue(value, forKey: key) == nil {
                order.append(key)
                if order.count > limit { values[order.removeFirst()] = nil }
            }
        }
    }
}

enum ContentDigest {
    /// SHA-256 (hex) of an open file's bytes, read with `pread` (the descriptor's offset is
    /// not used, so a response reading the same descriptor is not disturbed).
    static func sha256Hex(descriptor: Int32, size: Int, path: String) throws -> String {
        let hasher = SHA2Hasher(.sha256)
        let blockSize = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
        defer { buffer.deallocate() }
        let source = UnownedFileSource(path: path, descriptor: descriptor)
        var offset = 0
        while offset < size {
            let n = min(blockSize, size - offset)
            let block = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
            try source.read(offset: offset, into: block)
            hasher.update(UnsafeRawBufferPointer(block))
            offset += n
        }
        return hasher.finalize().hex
    }
}

/// `pread` on a descriptor owned by someone else.
private struct UnownedFileSource {
    let path: String
    let descriptor: Int32

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SourceReadError(description: "\(path): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw SourceReadError(description: "\(path): the file ended at byte \(offset + done) while it was hashed") }
            done += n
        }
    }
}
