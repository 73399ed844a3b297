import BlockyardCore
import BlockyardIO
import Foundation

/// What a reconstruction produced.
public struct ReconstructReport: Sendable {
    public var path: String
    public var size: Int
    /// The SHA-512 computed while streaming; it equals the manifest's (or the call threw).
    public var sha512: Digest
}

/// What `store export` wrote.
public struct ExportReport: Sendable {
    public var files: Int
    public var symlinks: Int
    public var bytes: Int
}

extension ChunkStore {
    /// The member of `manifest` named `path`, or its only member when `path` is nil.
    public func member(of manifest: Manifest, path: String?) throws(StoreError) -> ManifestMember {
        if let path {
            let normalized = (try? IngestSources.normalize(path, in: path)) ?? path
            guard let member = manifest.member(path) ?? manifest.member(normalized) else {
                throw StoreError.memberNotFound(manifest.ref, member: path)
            }
            return member
        }
        guard manifest.members.count == 1 else {
            throw StoreError.memberRequired(manifest.ref, members: manifest.members.count)
        }
        return manifest.members[0]
    }

    /// Streams the bytes of `member` in order to `write`, in batches of chunk buffers that
    /// point into the store's map (valid only during the call), while a second thread
    /// computes the SHA-512. Throws ``StoreError/corruption(_:)`` when a chunk is missing or
    /// has the wrong size, or when the SHA-512 differs from the manifest's; by then the bytes
    /// have been written, so callers writing files must discard them.
    public func reconstruct(_ member: ManifestMember, of ref: VersionRef,
                            write: ([UnsafeRawBufferPointer]) throws -> Void) throws(StoreError) -> ReconstructReport {
        if case .symlink(let target) = member.kind {
            throw StoreError.invalidInput(path: "\(ref):\(member.path)", reason: "is a symbolic link to \(target.debugDescription)")
        }
        return try guarded {
            try env.read { txn in
                let hasher = UncheckedBox(SHA2Hasher(.sha512))
                let queue = Channel<[UnsafeRawBufferPointer]>()
                let worker = WorkerThread(name: "blockyard-store-verify") {
                    while let batch = queue.receive() {
                        for piece in batch { hasher.value.update(piece) }
                    }
                }
                do {
                    var batch: [UnsafeRawBufferPointer] = []
                    var batchBytes = 0
                    batch.reserveCapacity(256)
                    for chunk in member.chunks {
                        guard let value = try chunk.key.withUnsafeBytes({ try txn.get(chunks, $0) }) else {
                            throw StoreError.corruption("\(ref) \(member.path): chunk \(chunk.key.hex) is missing")
                        }
                        guard value.count == chunk.size else {
                            throw StoreError.corruption("\(ref) \(member.path): chunk \(chunk.key.hex) has \(value.count) bytes, the manifest says \(chunk.size)")
                        }
                        batch.append(value)
                        batchBytes += value.count
                        if batch.count == 256 || batchBytes >= 8 << 20 {
                            try write(batch)
                            queue.send(batch)
                            batch.removeAll(keepingCapacity: true)
                            batchBytes = 0
                        }
                    }
                    if !batch.isEmpty {
                        try write(batch)
                        queue.send(batch)
                    }
                    queue.close()
                    worker.join()
                } catch {
                    // The worker reads the map: stop it before the transaction ends.
                    queue.cancel()
                    worker.join()
                    throw error
                }
                let digest = hasher.value.finalize()
                guard digest == member.sha512 else {
                    throw StoreError.corruption("\(ref) \(member.path): the rebuilt bytes do not match the manifest's SHA-512 (run `blockyard store verify`)")
                }
                return ReconstructReport(path: member.path, size: member.size, sha512: digest)
            }
        }
    }

    /// Streams bytes `range` of `member` (for HTTP range requests and partial reads) to
    /// `write`, in batches of buffers that point into the store's map and are valid only
    /// during the call. Only the chunks overlapping `range` are read. With `verify`, each of
    /// them is hashed whole and checked against its key (SHA-256) before any of its bytes
    /// are passed on, so a corrupted chunk throws ``StoreError/corruption(_:)`` instead of
    /// reaching the caller; the member's SHA-512 cannot be checked for part of a file.
    public func read(_ member: ManifestMember, of ref: VersionRef, range: Range<Int>, verify: Bool = true,
                     write: ([UnsafeRawBufferPointer]) throws -> Void) throws(StoreError) {
        guard range.lowerBound >= 0, range.upperBound <= member.size else {
            throw StoreError.invalidInput(path: "\(ref):\(member.path)",
                                          reason: "bytes \(range.lowerBound)..<\(range.upperBound) are outside its \(member.size) bytes")
        }
        guard !range.isEmpty else { return }
        try guarded {
            try env.read { txn in
                // The first chunk that ends after range.lowerBound.
                var offset = 0
                var index = 0
                while index < member.chunks.count && offset + member.chunks[index].size <= range.lowerBound {
                    offset += member.chunks[index].size
                    index += 1
                }
                var batch: [UnsafeRawBufferPointer] = []
                batch.reserveCapacity(64)
                while index < member.chunks.count && offset < range.upperBound {
                    let chunk = member.chunks[index]
                    guard let value = try chunk.key.withUnsafeBytes({ try txn.get(chunks, $0) }), value.count == chunk.size else {
                        throw StoreError.corruption("\(ref) \(member.path): chunk \(chunk.key.hex) is missing or has the wrong size")
                    }
                    if verify && ChunkKey(of: value) != chunk.key {
                        throw StoreError.corruption("\(ref) \(member.path): chunk \(chunk.key.hex) does not hash to its key (run `blockyard store verify`)")
                    }
                    let from = max(range.lowerBound, offset) - offset
                    let to = min(range.upperBound, offset + chunk.size) - offset
                    batch.append(UnsafeRawBufferPointer(rebasing: value[from..<to]))
                    if batch.count == 256 {
                        try write(batch)
                        batch.removeAll(keepingCapacity: true)
                    }
                    offset += chunk.size
                    index += 1
                }
                if !batch.isEmpty { try write(batch) }
            }
        }
    }

    /// Writes `member` to the file descriptor `fd` (standard output, a file being written)
    /// with `writev`, verified as it streams. When `fd` is a regular file it writes behind
    /// itself (``WriteBehind``): nothing here reads the bytes back.
    public func reconstruct(_ member: ManifestMember, of ref: VersionRef, to fd: Int32,
                            label: String = "standard output") throws(StoreError) -> ReconstructReport {
        try reconstruct(member, of: ref, to: fd, label: label, cacheWindow: WriteBehind.defaultWindow)
    }

    func reconstruct(_ member: ManifestMember, of ref: VersionRef, to fd: Int32, label: String,
                     cacheWindow: Int) throws(StoreError) -> ReconstructReport {
        // Where the bytes land in a regular file (appends land at its end); -1: not a file.
        var st = stat()
        var position = -1
        if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG {
            position = fcntl(fd, F_GETFL) & O_APPEND != 0 ? Int(st.st_size) : max(0, Int(lseek(fd, 0, SEEK_CUR)))
        }
        var behind = WriteBehind(descriptor: fd, window: cacheWindow)
        return try reconstruct(member, of: ref) { pieces throws(StoreError) in
            try Self.writeAll(pieces, to: fd, label: label)
            guard position >= 0 else { return }
            position += pieces.reduce(0) { $0 + $1.count }
            behind.written(upTo: position, releasableUpTo: position)
        }
    }

    static func writeAll(_ pieces: [UnsafeRawBufferPointer], to fd: Int32, label: String) throws(StoreError) {
        var iovecs = pieces.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        var first = 0
        while first < iovecs.count {
            let count = min(iovecs.count - first, 1024)
            let n = iovecs.withUnsafeMutableBufferPointer { writev(fd, $0.baseAddress! + first, Int32(count)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.file(FileError(path: label, errno: errno, doing: "write failed"))
            }
            // Skip what was written; a partial write leaves the rest of one iovec.
            var written = n
            while written > 0 && first < iovecs.count {
                if written >= iovecs[first].iov_len {
                    written -= iovecs[first].iov_len
                    first += 1
                } else {
                    iovecs[first].iov_base += written
                    iovecs[first].iov_len -= written
                    written = 0
                }
            }
            while first < iovecs.count && iovecs[first].iov_len == 0 { first += 1 }
        }
    }

    /// Writes every member of `ref` under `directory` (created if needed): regular files
    /// through temporary names, each verified against its SHA-512; only when all of them are
    /// complete are they renamed into place with their permission bits, and the symbolic links
    /// created. Existing files are replaced only with `overwrite`. Never writes outside
    /// `directory`, and never through a symbolic link. A failure leaves nothing behind: the
    /// temporary files, the files and links it added and the directories it created are
    /// removed (see ``ExportStaging``).
    public func export(_ ref: VersionRef, to directory: String, overwrite: Bool = false) throws(StoreError) -> ExportReport {
        try export(ref, to: directory, overwrite: overwrite, cacheWindow: WriteBehind.defaultWindow)
    }

    /// ``export(_:to:overwrite:)`` keeping at most `cacheWindow` bytes of each file it writes
    /// in the page cache (``WriteBehind``: nothing reads the files back; each one's SHA-512 is
    /// checked on the stream).
    func export(_ ref: VersionRef, to directory: String, overwrite: Bool, cacheWindow: Int) throws(StoreError) -> ExportReport {
        let manifest = try manifest(ref)
        let root = (directory as NSString).standardizingPath
        // A version stored before adds refused such layouts cannot be rebuilt as a tree.
        var layout = MemberLayout()
        for member in manifest.members {
            let what = if case .symlink = member.kind { "a symbolic link" } else { "a regular file" }
            try layout.insert(member.path, what: what, in: "\(ref)")
        }
        // Everything that would stop the export is checked before anything is written.
        var existing: [String] = []
        for member in manifest.members {
            let destination = root + "/" + member.path
            var st = stat()
            guard lstat(destination, &st) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                throw StoreError.file(FileError(path: destination, kind: .isDirectory, reason: "is a directory; \(ref) has a file there"))
            }
            existing.append(destination)
        }
        if !overwrite, let first = existing.first {
            throw StoreError.file(FileError(path: first, kind: .other, reason: "already exists (pass --force to replace \(existing.count == 1 ? "it" : "these \(existing.count) files"))"))
        }
        var staging = ExportStaging(root: root)
        var report = ExportReport(files: 0, symlinks: 0, bytes: 0)
        do throws(StoreError) {
            for member in manifest.members where member.kind == .regular {
                let destination = root + "/" + member.path
                let mode = mode_t(member.mode & 0o7777)
                try staging.makeParents(of: member.path)
                let (fd, _) = try staging.stage(destination, mode: mode)
                do throws(StoreError) {
                    _ = try reconstruct(member, of: ref, to: fd, label: destination, cacheWindow: cacheWindow)
                } catch {
                    close(fd)
                    throw error
                }
                try staging.finish(destination, descriptor: fd, mode: mode)
                report.files += 1
                report.bytes += member.size
            }
            try staging.place()
            for member in manifest.members {
                guard case .symlink(let target) = member.kind else { continue }
                try staging.makeParents(of: member.path)
                try staging.link(root + "/" + member.path, to: target, replacing: overwrite)
                report.symlinks += 1
            }
            staging.syncDirectories(of: manifest.members.map { root + "/" + $0.path })
        } catch {
            staging.rollback()
            throw error
        }
        return report
    }

    /// The blockmap of a member computed again from its stored bytes (for members with forced
    /// tensor cuts, whose manifest blockmap differs from electron-builder's).
    public func rechunkedBlockmap(_ member: ManifestMember, of ref: VersionRef,
                                  compat: BlockmapCompat = .electronBuilder) throws(StoreError) -> BlockmapResult {
        var builder = BlockmapBuilder(compat: compat)
        _ = try reconstruct(member, of: ref) { pieces in
            for piece in pieces { builder.update(piece) }
        }
        return builder.finalize()
    }
}

/// Hands a non-Sendable value to exactly one other thread at a time.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
