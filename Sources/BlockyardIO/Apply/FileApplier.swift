import BlockyardCore
import Foundation

/// Options of ``FileApplier/apply(plan:source:to:expectedSHA512:options:)``.
public struct FileApplyOptions {
    /// Seed files by seed id, replacing the paths recorded in the plan.
    public var seedPaths: [Int: String]
    /// The size the new file must have (e.g. `size` from latest.yml).
    public var expectedSize: Int?
    /// Check each chunk's BLAKE2b-18 while writing and stop at the first bad one.
    public var verifyChunks: Bool
    /// Ranges per request; nil: the plan's `maxRangesPerRequest`.
    public var rangesPerRequest: Int?
    /// Receives byte counts as the file is written.
    public var progress: ((Int) -> Void)?

    public init(seedPaths: [Int: String] = [:], expectedSize: Int? = nil, verifyChunks: Bool = false,
                rangesPerRequest: Int? = nil, progress: ((Int) -> Void)? = nil) {
        self.seedPaths = seedPaths
        self.expectedSize = expectedSize
        self.verifyChunks = verifyChunks
        self.rangesPerRequest = rangesPerRequest
        self.progress = progress
    }
}

/// The result of a successful apply.
public struct FileApplyReport: Codable, Equatable, Sendable {
    public var path: String
    public var size: Int
    /// Base64 SHA-512 of the file as read back from the temporary file before the rename.
    public var sha512: String
    public var statistics: ApplyStatistics
    /// Seconds spent building the file and computing its SHA-512 from disk.
    public var buildSeconds: Double
    /// Seconds spent in fsync, rename and the directory fsync (bounded by the disk).
    public var syncSeconds: Double
}

/// Builds a new file from a plan, atomically and verified:
///
/// 1. The plan is validated, `--size` compared, every seed opened read-only and its size
///    compared with the plan (a seed of another size changed since planning).
/// 2. The file is written front to back into a temporary file beside the destination
///    (``AtomicFileWriter``), preallocated to its size (a full disk fails before writing),
///    through an 8 MiB buffer; seeds are read with large `pread`s straight into that buffer.
/// 3. A second thread computes SHA-512 **of the temporary file**: it `pread`s each region back
///    from the file after it was written, trailing the writer, so the digest covers what the
///    file holds — not the stream that was meant to go into it (electron-updater defect #2)
///    — at no extra pass.
/// 4. Size and SHA-512 are compared. On a mismatch the file is re-read chunk by chunk against
///    the plan's BLAKE2b-18 checksums to name the first bad chunk and where it came from.
/// 5. Only then: fsync, rename over the destination, fsync the directory.
///
/// While it writes, ``WriteBehind`` starts the disk on each written block and drops the cache
/// of what is more than 64 MiB behind and already read back: the cache holds a window of the
/// file, not all of it, the kernel recycles those pages, and the final fsync is short.
///
/// On any error the temporary file is removed; the destination and the seeds are untouched.
public enum FileApplier {
    public static let writeBufferSize = 8 << 20

    public static func apply<Source: RangeSource>(plan planned: DeltaPlan, source: Source, to path: String,
                                                  expectedSHA512: [UInt8],
                                                  options: FileApplyOptions = FileApplyOptions()) throws -> FileApplyReport {
        let started = monotonicSeconds()
        try planned.validate()
        // Seeds given elsewhere replace the planned paths (also in error messages).
        var plan = planned
        for k in plan.seeds.indices {
            if let path = options.seedPaths[plan.seeds[k].id] { plan.seeds[k].path = path }
        }
        if let expected = options.expectedSize, expected != plan.target.size {
            throw ApplyError.sizeMismatch(expected: expected, plan: plan.target.size)
        }
        let seeds = try FileSeedReader(plan: plan)
        var existing = stat()
        if stat(path, &existing) == 0 && existing.st_mode & S_IFMT == S_IFDIR {
            throw FileApplyError.createOutput(FileError(path: path, kind: .isDirectory, reason: "is a directory"))
        }
        let writer: AtomicFileWriter
        do {
            writer = try AtomicFileWriter(destination: path)
        } catch {
            throw FileApplyError.createOutput(error)
        }
        var committed = false
        defer { if !committed { writer.abandon() } }
        try preallocate(writer, size: plan.target.size)

        let hasher = DiskSHA512(descriptor: writer.fileDescriptor, path: writer.temporaryPath)
        let output = BufferedFileOutput(writer: writer, bufferSize: writeBufferSize, hasher: hasher)
        let statistics: ApplyStatistics
        do {
            statistics = try PlanExecutor.execute(
                plan, seeds: seeds, source: source, output: output,
                options: ApplyOptions(verifyChunks: options.verifyChunks, rangesPerRequest: options.rangesPerRequest,
                                      bufferSize: 4 << 20, progress: options.progress))
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
        guard Int(st.st_size) == plan.target.size, hashed == plan.target.size else {
            throw ApplyError.outputSizeMismatch(expected: plan.target.size, actual: Int(st.st_size))
        }
        guard digest.bytes == expectedSHA512 else {
            let fd = writer.fileDescriptor
            let temp = writer.temporaryPath
            let diagnosis = try PlanExecutor.diagnose(plan) { offset, buffer in
                try preadFully(fd, buffer, offset: offset, path: temp)
            }
            throw ApplyError.sha512Mismatch(expected: Base64.encode(expectedSHA512), actual: digest.base64,
                                            diagnosis: diagnosis, chunksChecked: plan.canVerifyChunks)
        }
        let built = monotonicSeconds()
        do {
            try writer.commit()
        } catch {
            throw FileApplyError.writeOutput(error)
        }
        committed = true
        return FileApplyReport(path: path, size: plan.target.size, sha512: digest.base64, statistics: statistics,
                               buildSeconds: built - started, syncSeconds: monotonicSeconds() - built)
    }

    /// Reserves the file's blocks up front: a full disk fails here, before anything is
    /// written, and the filesystem allocates once instead of on every write (on ext4 this
    /// halves the kernel time of writing a large file). Filesystems without support just
    /// allocate as the data arrives.
    static func preallocate(_ writer: AtomicFileWriter, size: Int) throws {
        #if os(Linux)
        guard size > 0 else { return }
        while case let code = posix_fallocate(writer.fileDescriptor, 0, off_t(size)), code != 0 {
            if code == EINTR { continue }
            if code == ENOSPC || code == EDQUOT || code == EFBIG {
                throw FileApplyError.createOutput(FileError(path: writer.destination, errno: code,
                                                            doing: "cannot reserve \(size) bytes"))
            }
            return  // EOPNOTSUPP and the like: not needed for correctness
        }
        #endif
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: Int, path: String) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileApplyError.writeOutput(FileError(path: path, errno: errno, doing: "read back failed"))
            }
            if n == 0 {
                throw FileApplyError.writeOutput(FileError(path: path, kind: .io, reason: "unexpected end of file at byte \(offset + done) while reading back"))
            }
            done += n
        }
    }
}

/// The temporary file as an ``ApplyOutput``: appends go into one large buffer that is
/// written with `pwrite` when full; each write is published to the disk hasher.
final class BufferedFileOutput: ApplyOutput {
    private let writer: AtomicFileWriter
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// Bytes already in the file (the buffer holds the bytes after them).
    private var flushed = 0
    private let hasher: DiskSHA512
    private var writeBehind: WriteBehind

    init(writer: AtomicFileWriter, bufferSize: Int, hasher: DiskSHA512) {
        self.writer = writer
        buffer = .allocate(byteCount: max(4096, bufferSize), alignment: 4096)
        self.hasher = hasher
        writeBehind = WriteBehind(descriptor: writer.fileDescriptor)
    }

    deinit { buffer.deallocate() }

    func appendBuffer(maxCount: Int) throws -> UnsafeMutableRawBufferPointer {
        if buffered == buffer.count { try flush() }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[buffered..<min(buffer.count, buffered + max(1, maxCount))])
    }

    func commitAppend(_ count: Int) throws {
        buffered += count
        if buffered == buffer.count { try flush() }
    }

    func flush() throws {
        guard buffered > 0 else { return }
        do {
            try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]), at: flushed)
        } catch {
            throw FileApplyError.writeOutput(error)
        }
        flushed += buffered
        buffered = 0
        hasher.publish(flushed)
        // What the hasher has read back may leave the cache (reading it back later for a
        // diagnosis or a copy within the file just reads the disk).
        writeBehind.written(upTo: flushed, releasableUpTo: hasher.position)
    }

    func readBack(at offset: Int, into target: UnsafeMutableRawBufferPointer) throws {
        precondition(offset >= 0 && offset + target.count <= flushed + buffered, "read back beyond the written bytes")
        var done = 0
        if offset < flushed {
            let n = min(target.count, flushed - offset)
            try FileApplier.preadFully(writer.fileDescriptor, UnsafeMutableRawBufferPointer(rebasing: target[0..<n]),
                                       offset: offset, path: writer.temporaryPath)
            done = n
        }
        if done < target.count {
            let from = offset + done - flushed
            UnsafeMutableRawBufferPointer(rebasing: target[done...])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[from..<(from + target.count - done)]))
        }
    }
}

/// SHA-512 of a file that is being written, computed on its own thread by reading back each
/// region after the writer published it.
final class DiskSHA512: @unchecked Sendable {
    private let descriptor: Int32
    private let path: String
    private let condition = NSCondition()
    private var published = 0
    private var finished = false
    private var cancelled = false
    private var failure: FileApplyError?
    /// Bytes read back and hashed (written by the thread under `condition`).
    private var hashed = 0
    private let sha = SHA2Hasher(.sha512)
    private let done = DispatchSemaphore(value: 0)

    static let blockSize = 4 << 20

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
        let thread = Thread { [self] in
            self.loop()
            self.done.signal()
        }
        thread.name = "blockyard-apply-sha512"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The first `bytes` bytes of the file are written.
    func publish(_ bytes: Int) {
        condition.lock()
        published = bytes
        condition.signal()
        condition.unlock()
    }

    /// Bytes read back and hashed so far.
    var position: Int {
        condition.lock()
        defer { condition.unlock() }
        return hashed
    }

    /// No more bytes will come: waits for the hash of everything published.
    func finish() throws -> (Digest, Int) {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
        done.wait()
        if let failure { throw failure }
        return (sha.finalize(), hashed)
    }

    /// Stops the thread without a result.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.signal()
        condition.unlock()
        done.wait()
    }

    private func loop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.blockSize, alignment: 64)
        defer { buffer.deallocate() }
        var position = 0
        while true {
            condition.lock()
            while position == published && !finished && !cancelled { condition.wait() }
            let available = published
            let stop = cancelled || (finished && position == available)
            condition.unlock()
            if stop { break }
            let n = min(buffer.count, available - position)
            do {
                try FileApplier.preadFully(descriptor, UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]),
                                           offset: position, path: path)
            } catch {
                failure = error as? FileApplyError
                    ?? .writeOutput(FileError(path: path, kind: .io, reason: "read back failed"))
                break
            }
            sha.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += n
            condition.lock()
            hashed = position
            condition.unlock()
        }
    }
}
