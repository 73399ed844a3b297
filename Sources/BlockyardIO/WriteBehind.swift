import Foundation

/// Keeps a large front-to-back write from filling the page cache.
///
/// After each write the writer reports how far the file is written (``written(upTo:releasableUpTo:)``):
/// writeback of the new bytes starts at once (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), and
/// the cache of everything more than ``window`` bytes behind — and not needed any more,
/// which the caller says with `releasableUpTo` (e.g. the bytes a verifier has read back) —
/// is waited for and dropped (`posix_fadvise(POSIX_FADV_DONTNEED)`).
///
/// Three effects, all measured in docs/PLANNER.md:
/// - the cache holds about one window of the file instead of all of it, so a multi-GB
///   update does not push out what the rest of the machine has cached;
/// - the kernel recycles the dropped pages for the next writes. Taking fresh pages is most
///   of the cost of writing a new file in a VM that gives free memory back to its host
///   (1 GiB: 2.9 s of kernel time with fresh pages, 0.3 s with recycled ones);
/// - the disk works while the file is built, so the final `fsync` has little left to do.
///
/// Only a hint: errors are ignored (a real write error surfaces at `fsync`), and it does
/// nothing outside Linux.
public struct WriteBehind {
    public let descriptor: Int32
    /// Bytes kept cached behind the write position.
    public let window: Int
    /// Writeback has been started up to here.
    public private(set) var started = 0
    /// The cache has been dropped up to here.
    public private(set) var dropped = 0

    public static let defaultWindow = 64 << 20

    /// The cache is dropped in steps of 2 MiB: the page cache may hold a file in folios of up
    /// to 2 MiB (x86-64's PMD size), and a folio that straddles the end of a dropped range is
    /// kept whole — with page-sized steps a 1 MiB folio survived at every step.
    public static let granule = 2 << 20

    public init(descriptor: Int32, window: Int = WriteBehind.defaultWindow) {
        self.descriptor = descriptor
        self.window = max(0, window)
    }

    /// The file's first `end` bytes are written; the cache of bytes below `releasable` is no
    /// longer needed.
    public mutating func written(upTo end: Int, releasableUpTo releasable: Int) {
        #if os(Linux)
        guard let syncRange = Self.syncFileRange else { return }
        if end > started {
            _ = syncRange(descriptor, off_t(started), off_t(end - started), Self.write)
            started = end
        }
        let target = min(releasable, end - window) / Self.granule * Self.granule
        guard target > dropped else { return }
        _ = syncRange(descriptor, off_t(dropped), off_t(target - dropped), Self.waitBefore | Self.write | Self.waitAfter)
        _ = posix_fadvise(descriptor, off_t(dropped), off_t(target - dropped), Int32(POSIX_FADV_DONTNEED))
        dropped = target
        #endif
    }

    #if os(Linux)
    private static let waitBefore: UInt32 = 1  // SYNC_FILE_RANGE_WAIT_BEFORE
    private static let write: UInt32 = 2       // SYNC_FILE_RANGE_WRITE
    private static let waitAfter: UInt32 = 4   // SYNC_FILE_RANGE_WAIT_AFTER

    /// `sync_file_range`, looked up at run time: Swift's Glibc module does not export it.
    private static let syncFileRange: (@convention(c) (Int32, off_t, off_t, UInt32) -> Int32)? = {
        guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, off_t, off_t, UInt32) -> Int32).self)
    }()
    #endif
}
