import BlockyardCore

/// The chunks of the file being downloaded, by offset in the served file, with their
/// BLAKE2b-18 checksums: every downloaded chunk is checked as it arrives, so bytes that do not
/// belong to the new file are never counted as downloaded (and a resumed download never
/// trusts what is on disk without checking it).
public struct ChunkTable: Sendable {
    /// `starts[i]` is where chunk i begins; `starts[count]` is the end of the last chunk.
    let starts: [Int]
    let checksums: [ChunkChecksum]

    /// - Parameters:
    ///   - entryOffset: where the blockmap's file entry begins in the served file.
    ///   - sizes, checksums: the new blockmap's chunks (version 2: BLAKE2b-18).
    public init(entryOffset: Int = 0, sizes: [Int], checksums: [ChunkChecksum]) {
        precondition(sizes.count == checksums.count, "chunk sizes and checksums differ in number")
        var starts = [Int]()
        starts.reserveCapacity(sizes.count + 1)
        var offset = entryOffset
        for size in sizes {
            starts.append(offset)
            offset += size
        }
        starts.append(offset)
        self.starts = starts
        self.checksums = checksums
    }

    /// The table of a plan's new file, when its checksums are BLAKE2b-18 values.
    public init?(plan: DeltaPlan) {
        guard plan.canVerifyChunks, let chunks = plan.target.chunks else { return nil }
        self.init(entryOffset: plan.target.entryOffset, sizes: chunks.sizes, checksums: chunks.checksums)
    }

    public var count: Int { checksums.count }
    /// One past the last chunk's last byte.
    public var end: Int { starts[starts.count - 1] }

    /// The same table with one more chunk: the bytes `tail` after the last chunk (the
    /// embedded blockmap of an AppImage, which its own blockmap does not list).
    public func appending(_ tail: [UInt8]) -> ChunkTable {
        var starts = self.starts
        starts.append(end + tail.count)
        let checksum = tail.withUnsafeBytes { BLAKE2b.chunkChecksum($0) }
        return ChunkTable(starts: starts, checksums: checksums + [checksum])
    }

    private init(starts: [Int], checksums: [ChunkChecksum]) {
        self.starts = starts
        self.checksums = checksums
    }

    /// The non-empty chunk containing `offset`, or nil outside the table.
    public func chunk(containing offset: Int) -> Int? {
        guard offset >= starts[0], offset < end else { return nil }
        // Last i with starts[i] <= offset; empty chunks share their start with the next one.
        var lo = 0, hi = count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    public func range(of chunk: Int) -> Range<Int> { starts[chunk]..<starts[chunk + 1] }

    /// `r` widened to whole chunks (offsets outside the table are left as they are).
    public func aligned(_ r: Range<Int>) -> Range<Int> {
        guard !r.isEmpty else { return r }
        let lower = chunk(containing: r.lowerBound).map { starts[$0] } ?? r.lowerBound
        let upper = chunk(containing: r.upperBound - 1).map { starts[$0 + 1] } ?? r.upperBound
        return lower..<upper
    }

    /// Chunk boundaries strictly inside `r`, in order.
    func boundaries(inside r: Range<Int>) -> [Int] {
        guard let first = chunk(containing: r.lowerBound) else { return [] }
        var out: [Int] = []
        var i = first + 1
        while i < starts.count && starts[i] < r.upperBound {
            if starts[i] > r.lowerBound && out.last != starts[i] { out.append(starts[i]) }
            i += 1
        }
        return out
    }
}
