import Foundation

/// What the kernel holds of a file in its page cache (`mincore` over a read-only mapping),
/// for tests of code that is meant to drop what it no longer needs.
public enum PageCache {
    /// Resident pages among the file's pages in `[from, to)` bytes (whole file by default);
    /// nil where that cannot be told (not Linux, an empty range, mmap failed).
    public static func residentPages(_ path: String, from: Int = 0, to: Int? = nil) -> (resident: Int, total: Int)? {
        #if os(Linux)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = min(to ?? Int(st.st_size), Int(st.st_size))
        let start = from / page * page
        guard end > start else { return nil }
        guard let map = mmap(nil, end - start, PROT_READ, MAP_SHARED, fd, off_t(start)), map != MAP_FAILED else { return nil }
        defer { munmap(map, end - start) }
        let pages = (end - start + page - 1) / page
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(map, end - start, &vector) == 0 else { return nil }
        return (vector.reduce(0) { $0 + Int($1 & 1) }, pages)
        #else
        return nil
        #endif
    }

    /// Whether `posix_fadvise(POSIX_FADV_DONTNEED)` really drops clean pages of files in
    /// `directory` (not on tmpfs, whose pages are the files themselves).
    public static func canDrop(in directory: String) -> Bool {
        #if os(Linux)
        // The filesystem type of the longest mount point that contains the directory.
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return false }
        let target = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            let inside = point == "/" || target == point || target.hasPrefix(point + "/")
            if inside && point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        guard let type = best?.type else { return false }
        return !["tmpfs", "ramfs", "shmem"].contains(type)
        #else
        return false
        #endif
    }
}
