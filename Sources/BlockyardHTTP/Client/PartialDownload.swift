import BlockyardCore
import BlockyardIO
import Foundation

/// Downloaded ranges kept beside the output until the update completes, so an interrupted
/// update continues where it stopped.
///
///     DIR/.NAME.blockyard-partial        the served file's bytes at their own offsets
///                                        (sparse: only downloaded ranges hold data)
///     DIR/.NAME.blockyard-partial.json   the journal: what the partial file is for and
///                                        which byte ranges of it are complete
///
/// The journal names the new file by its SHA-512 and size; a journal for another file is
/// discarded with its partial file. Ranges are recorded only after they were checked
/// (BLAKE2b-18 of every chunk, when the blockmap is version 2), and on resume every recorded
/// chunk is checked again before it is trusted, so a torn write or a changed partial file
/// costs a re-download, never a corrupt output. Without chunk checksums the partial file
/// is fdatasync'd before the journal records ranges in it.
///
/// After a failure the two files stay only if a retry can use them: the failure was
/// ``UpdateError/transient`` (a network failure after the retries, an interruption) and the
/// journal lists checked bytes. Otherwise (bad metadata, 404, a server with another file, a
/// failed check, nothing downloaded yet) they are removed.
///
/// The partial file is locked (`flock`) while in use: two updates to the same output do not
/// share it. Nothing here is ever at the output path: the output is built from the partial
/// file (and the installed file) by ``FileApplier``, verified, then renamed into place.
public final class PartialDownload: @unchecked Sendable {
    public struct Journal: Codable, Equatable, Sendable {
        public var format = "blockyard-partial"
        public var formatVersion = 1
        /// Base64 SHA-512 of the file being built.
        public var sha512: String
        /// Size of the partial file (the served file's size, or the end of the last range).
        public var size: Int
        /// Where the bytes come from (informational; the query is left out).
        public var source: String
        /// Complete byte ranges, `[start, end)`.
        public var complete: ByteIntervals
    }

    public let path: String
    public let journalPath: String
    public let size: Int
    let descriptor: Int32
    let identity: Journal
    let chunks: ChunkTable?
    /// Whether completed ranges are recorded in the journal (for a later resume). Small
    /// downloads that are never resumed (delivery index rounds) skip the fdatasync and the
    /// journal write.
    let journaled: Bool
    /// Ranges complete on disk when the download (re)started.
    public let resumed: ByteIntervals
    private let lock = NSLock()
    private var closed = false
    /// Whether the journal lists any complete bytes (written by this run or an earlier one).
    private var recorded = false

    /// The partial file's path for an output path.
    public static func paths(for destination: String) -> (partial: String, journal: String) {
        let url = URL(fileURLWithPath: destination)
        let partial = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).blockyard-partial").path
        return (partial, partial + ".json")
    }

    /// Opens (or creates) the partial file for `destination`.
    /// - Parameters:
    ///   - sha512: the new file's SHA-512 (base64), naming what the partial file is for.
    ///   - size: the partial file's size.
    ///   - chunks: checksums to re-check recorded ranges against.
    ///   - journaled: false for a download that is never resumed (nothing is recorded).
    public init(destination: String, sha512: String, size: Int, source: String, chunks: ChunkTable?,
                journaled: Bool = true) throws(UpdateError) {
        (path, journalPath) = Self.paths(for: destination)
        self.size = size
        self.chunks = chunks
        self.journaled = journaled
        identity = Journal(sha512: sha512, size: size, source: source, complete: ByteIntervals())
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw UpdateError(.cannotCreate, FileError(path: path, errno: errno, doing: "cannot create the partial download beside the output").description)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw UpdateError(.cannotCreate, "\(path): another update to the same output is running (the partial download is locked)")
        }
        descriptor = fd
        var previous = ByteIntervals()
        if journaled, let journal = Self.readJournal(journalPath), journal.sha512 == sha512, journal.size == size,
           journal.format == identity.format, journal.formatVersion == identity.formatVersion {
            var st = stat()
            if fstat(fd, &st) == 0, Int(st.st_size) == size {
                previous = journal.complete
                previous.remove(size..<Int.max)
            }
        }
        do throws(UpdateError) {
            if previous.isEmpty {
                // A new download: start from an empty sparse file.
                unlink(journalPath)
                guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(size)) == 0 else {
                    throw UpdateError(.cannotCreate, FileError(path: path, errno: errno, doing: "cannot size the partial download").description)
                }
                resumed = ByteIntervals()
            } else {
                resumed = try Self.recheck(previous, fd: fd, path: path, chunks: chunks)
            }
        } catch {
            // A partial file that cannot be sized or read back is of no use to a retry.
            unlink(journalPath)
            unlink(path)
            close(fd)
            throw error
        }
        recorded = !resumed.isEmpty
    }

    deinit { closeFile() }

    private static func readJournal(_ path: String) -> Journal? {
        guard let bytes = try? FileInput.readAll(path: path, limit: 64 << 20) else { return nil }
        return try? JSONDecoder().decode(Journal.self, from: Data(bytes))
    }

    /// Keeps the recorded ranges whose chunks still match (all of them without checksums).
    private static func recheck(_ recorded: ByteIntervals, fd: Int32, path: String, chunks: ChunkTable?) throws(UpdateError) -> ByteIntervals {
        guard let chunks else { return recorded }
        var good = ByteIntervals()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for r in recorded.ranges {
            guard var index = chunks.chunk(containing: r.lowerBound) else { continue }
            if chunks.range(of: index).lowerBound < r.lowerBound { index += 1 }
            while index < chunks.count, chunks.range(of: index).upperBound <= r.upperBound {
                let chunk = chunks.range(of: index)
                if !chunk.isEmpty {
                    var hasher = BLAKE2b(digestLength: ChunkChecksum.byteCount)
                    var at = chunk.lowerBound
                    while at < chunk.upperBound {
                        let n = min(buffer.count, chunk.upperBound - at)
                        let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, n, off_t(at)) }
                        if got < 0 && errno == EINTR { continue }
                        guard got > 0 else {
                            throw UpdateError(.io, FileError(path: path, errno: got < 0 ? errno : EIO, doing: "cannot read the partial download").description)
                        }
                        buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                        at += got
                    }
                    if ChunkChecksum(bytes: hasher.finalize()) == chunks.checksums[index] { good.insert(chunk) }
                }
                index += 1
            }
        }
        return good
    }

    /// Writes downloaded bytes at `offset` of the served file.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(UpdateError) {
        guard offset >= 0, offset + bytes.count <= size else {
            throw UpdateError(.io, "internal error: write of \(bytes.count) bytes at \(offset) beyond the partial download's \(size) bytes")
        }
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw UpdateError(.io, FileError(path: path, errno: errno, doing: "cannot write the partial download").description)
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws(UpdateError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(UpdateError) in try write(raw, at: offset) } }
        try result.get()
    }

    /// Records `complete` in the journal (atomically; after an fdatasync of the partial file
    /// when there are no checksums to re-check it with on resume).
    func record(_ complete: ByteIntervals) throws(UpdateError) {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, journaled else { return }
        if chunks == nil && fdatasync(descriptor) != 0 {
            throw UpdateError(.io, FileError(path: path, errno: errno, doing: "cannot sync the partial download").description)
        }
        var journal = identity
        journal.complete = complete
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(journal) else { return }
        do {
            try AtomicFileWriter.write(Array(data) + [10], to: journalPath)
        } catch {
            throw UpdateError(.io, error.description)
        }
        recorded = !complete.isEmpty
    }

    /// Whether a later run could resume from this partial download: its journal lists
    /// checked bytes.
    public var isResumable: Bool {
        lock.lock()
        defer { lock.unlock() }
        return recorded && !closed
    }

    /// A range source over the partial file, for ``FileApplier``.
    public func rangeSource() throws(UpdateError) -> LocalFileRangeSource {
        do {
            return try LocalFileRangeSource(path: path)
        } catch {
            throw UpdateError(.io, "\(error)")
        }
    }

    /// The bytes of `range`, read back from the partial file.
    func read(_ range: Range<Int>) throws(UpdateError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw UpdateError(.io, FileError(path: path, errno: n < 0 ? errno : EIO, doing: "cannot read the partial download").description)
            }
            done += n
        }
        return bytes
    }

    /// Removes the partial file and its journal (after success, or when they are useless).
    public func remove() {
        lock.lock()
        defer { lock.unlock() }
        unlink(journalPath)
        unlink(path)
        closeLocked()
    }

    /// Closes the file and releases the lock, keeping both files for a later resume.
    public func closeFile() {
        lock.lock()
        defer { lock.unlock() }
        closeLocked()
    }

    private func closeLocked() {
        guard !closed else { return }
        closed = true
        close(descriptor)
    }
}
