import Foundation

/// What a feed's metadata may make the client read or create, checked before it happens:
/// a hostile or broken server must not make it read without end or create files no disk
/// can hold.
public enum FeedLimits {
    /// Largest channel file read (electron-builder's are a few KB). Reading stops as soon as
    /// a response passes it.
    public static let channelFile = 16 << 20
    /// Largest channel-file signature (`.sig`) read; a real one is under 1 KB.
    public static let signature = 1 << 16
    /// Largest delivery index the channel file may announce (`blockyardIndexSize`): about
    /// 3.5 MB per GiB of artifact, so 1 GiB of index covers any artifact a disk holds.
    public static let deliveryIndex = 1 << 30

    /// Refuses (exit 65) a size that no file written beside `out` could have: negative, or
    /// more than the whole file system holding `out` (free or not). Nothing is created first.
    /// - Parameter what: names the metadata in the message (channel file and file URL, plan).
    public static func checkSize(_ size: Int, out: String, what: String) throws(UpdateError) {
        guard size >= 0 else {
            throw UpdateError(.invalidData, "\(what): size \(size) is negative")
        }
        let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
        var fs = statvfs()
        guard statvfs(directory, &fs) == 0 else { return }
        let (capacity, overflow) = UInt64(fs.f_blocks).multipliedReportingOverflow(by: UInt64(fs.f_frsize))
        guard !overflow, capacity > 0, UInt64(size) > capacity else { return }
        throw UpdateError(.invalidData, "\(what): size \(size) bytes is more than the whole file system holding \(directory) (\(capacity) bytes): the metadata cannot describe a real file")
    }
}
