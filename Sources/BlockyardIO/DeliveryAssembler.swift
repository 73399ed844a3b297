import BlockyardCore
import Foundation

/// What building a file from a ``DeliveryPlan`` did.
public struct DeliveryAssemblyReport: Codable, Equatable, Sendable {
    public var size: Int
    /// Base64 SHA-512 of the file as read back from disk before the rename.
    public var sha512: String
    /// Bytes copied from the installed file.
    public var copiedBytes: Int
    /// Chunks decoded from the pack (each checked against its SHA-256).
    public var unpackedChunks: Int
    /// Bytes those chunks hold.
    public var unpackedBytes: Int
    /// Seconds writing, decoding and hashing; seconds in fsync and rename.
    public var buildSeconds: Double
    public var syncSeconds: Double
}

/// Builds the new file from a ``DeliveryPlan``: copies from the installed file, chunks
/// decoded from the downloaded pack bytes, verified and atomic.
///
/// The file is written front to back into a temporary sibling of the destination, through
/// the same buffered output as ``FileApplier`` (preallocated, write-behind). Each chunk from
/// the pack is decoded into exactly its raw size and its SHA-256 compared with the leaf's
/// (``ChunkPacker/unpack``) before a byte of it is written; a second thread computes the
/// SHA-512 of the temporary file by reading it back from disk. Only when the size and the
/// SHA-512 match is the file fsync'd and renamed over the destination. On any error the
/// temporary file is removed and the destination, the installed file and the pack bytes are
/// untouched.
public enum DeliveryAssembler {
    /// - Parameters:
    ///   - packPath: a file holding (at least) the plan's pack ranges at their pack offsets
    ///     (the partial download of the pack).
    ///   - installedPath: read for copies only; nil when the plan has none.
    public static func assemble(plan: DeliveryPlan, installedPath: String?, packPath: String, to path: String,
                                expectedSHA512: [UInt8], progress: ((Int) -> Void)? = nil) throws -> DeliveryAssemblyReport {
        let started = FileApplier.monotonicSeconds()
        let size = Int(plan.artifactSize)
        var existing = stat()
        if stat(path, &existing) == 0 && existing.st_mode & S_IFMT == S_IFDIR {
            throw FileApplyError.createOutput(FileError(path: path, kind: .isDirectory, reason: "is a directory"))
        }
        let installed = try installedPath.map { p -> Int32 in
            let fd = open(p, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileApplyError.seed(id: 0, FileError(path: p, errno: errno)) }
            return fd
        }
        defer { if let installed { close(installed) } }
        let pack = open(packPath, O_RDONLY | O_CLOEXEC)
        guard pack >= 0 else { throw FileApplyError.source(FileError(path: packPath, errno: errno)) }
        defer { close(pack) }

        let writer: AtomicFileWriter
        do {
            writer = try AtomicFileWriter(destination: path)
        } catch {
            throw FileApplyError.createOutput(error)
        }
        var committed = false
        defer { if !committed { writer.abandon() } }
        try FileApplier.preallocate(writer, size: size)

        let hasher = DiskSHA512(descriptor: writer.fileDescriptor, path: writer.temporaryPath)
        let output = BufferedFileOutput(writer: writer, bufferSize: FileApplier.writeBufferSize, hasher: hasher)
        var copied = 0, unpacked = 0, chunks = 0
        do {
            let decompressor = ZstdDecompressor()
            let largest = plan.items.reduce(1) { if case .unpack(_, let l) = $1 { return max($0, Int(l.rawSize)) } else { return $0 } }
            let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: largest, alignment: 64)
            let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: largest, alignment: 64)
            defer {
                stored.deallocate()
                raw.deallocate()
            }
            for item in plan.items {
                switch item {
                case .copy(let local, let length, _):
                    guard let installed, let installedPath else { preconditionFailure("DeliveryAssembler: a copy without an installed file") }
                    var at = Int(local), left = Int(length)
                    while left > 0 {
                        let buffer = try output.appendBuffer(maxCount: left)
                        let n = pread(installed, buffer.baseAddress!, buffer.count, off_t(at))
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else {
                            throw FileApplyError.seed(id: 0, FileError(path: installedPath, kind: .io,
                                                                   reason: n < 0 ? String(cString: strerror(errno))
                                                                       : "ended at byte \(at): it changed during the update"))
                        }
                        try output.commitAppend(n)
                        at += n
                        left -= n
                        progress?(n)
                    }
                    copied += Int(length)
                case .unpack(let index, let leaf):
                    let form = UnsafeMutableRawBufferPointer(rebasing: stored[0 ..< Int(leaf.storedSize)])
                    try FileApplier.preadFully(pack, form, offset: Int(leaf.packOffset), path: packPath)
                    let out = UnsafeMutableRawBufferPointer(rebasing: raw[0 ..< Int(leaf.rawSize)])
                    try ChunkPacker.unpack(UnsafeRawBufferPointer(form), leaf: leaf, leafIndex: index,
                                           decompressor: decompressor, into: out)
                    var done = 0
                    while done < out.count {
                        let buffer = try output.appendBuffer(maxCount: out.count - done)
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: out[done ..< done + buffer.count]))
                        try output.commitAppend(buffer.count)
                        done += buffer.count
                    }
                    progress?(out.count)
                    unpacked += out.count
                    chunks += 1
                }
            }
            try output.flush()
        } catch {
            hasher.cancel()
            throw error
        }
        let (digest, hashed) = try hasher.finish()
        var st = stat()
        guard fstat(writer.fileDescriptor, &st) == 0 else {
            throw FileApplyError.writeOutput(FileError(path: writer.temporaryPath, errno: errno, doing: "stat failed"))
        }
        guard Int(st.st_size) == size, hashed == size else {
            throw ApplyError.outputSizeMismatch(expected: size, actual: Int(st.st_size))
        }
        guard digest.bytes == expectedSHA512 else {
            throw ApplyError.sha512Mismatch(expected: Base64.encode(expectedSHA512), actual: digest.base64,
                                            diagnosis: nil, chunksChecked: false)
        }
        let built = FileApplier.monotonicSeconds()
        do {
            try writer.commit()
        } catch {
            throw FileApplyError.writeOutput(error)
        }
        committed = true
        return DeliveryAssemblyReport(size: size, sha512: digest.base64, copiedBytes: copied, unpackedChunks: chunks,
                                      unpackedBytes: unpacked, buildSeconds: built - started,
                                      syncSeconds: FileApplier.monotonicSeconds() - built)
    }
}
