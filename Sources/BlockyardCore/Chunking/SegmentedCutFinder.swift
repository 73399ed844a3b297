/// The cuts of ``Chunker`` with forced cuts (``Chunker/cutHere()`` at given offsets), found
/// the fast way: ``BoundaryScanner`` (four interleaved lanes) for candidates and one
/// ``CutChainer`` per segment between forced cuts. Needs the input's size up front.
///
/// Every forced boundary starts a new chunk, and a chunk's end depends only on its own bytes
/// (the 64-byte window never reaches back before `start + minSize − 64`), so each segment is
/// chunked as an input of its own. The result is exactly the sequential chunker's (tested).
///
/// Bytes arrive in order with ``advance(_:origin:count:onCut:)`` into memory the caller owns;
/// the caller keeps every byte from the start of the current unfinished chunk addressable.
public struct SegmentedCutFinder: Sendable {
    public let totalSize: Int
    public let parameters: ChunkerParameters
    private let boundaries: [Int]
    private var segment = 0
    private var segmentStart = 0
    private var chainer: CutChainer
    /// Bytes of the input seen so far.
    public private(set) var scanned = 0
    /// Forced boundaries that produced a cut (not already a content-defined one).
    public private(set) var forcedCuts = 0
    /// True once the last segment is chunked.
    public private(set) var isFinished = false
    /// When finished: the input ended exactly on a content-defined or size cut (or is empty).
    public private(set) var endsOnCut = false
    private var candidates: [Int] = []

    /// - Parameter boundaries: forced cut offsets; those outside `1 ..< totalSize` are ignored.
    public init(totalSize: Int, boundaries: [Int], parameters: ChunkerParameters = .electronBuilder) {
        self.totalSize = totalSize
        self.parameters = parameters
        self.boundaries = Array(Set(boundaries.filter { $0 > 0 && $0 < totalSize })).sorted()
        chainer = CutChainer(totalSize: self.boundaries.first ?? totalSize, parameters: parameters)
        if totalSize == 0 { closeSegment(onCut: { _ in }) }
    }

    /// Start of the current unfinished chunk (the last cut).
    public var chunkStart: Int { segmentStart + chainer.start }

    /// The next `count` bytes of the input have arrived; byte `m` of the input is at
    /// `base + (m − origin)`, and every byte from ``chunkStart`` on is there. Calls `onCut` with
    /// the end offset of every chunk that became certain.
    public mutating func advance(_ base: UnsafePointer<UInt8>, origin: Int, count: Int, onCut: (Int) -> Void) {
        precondition(scanned + count <= totalSize, "SegmentedCutFinder: more bytes than the size given")
        precondition(origin <= chunkStart, "SegmentedCutFinder: the current chunk's bytes must be addressable")
        let end = scanned + count
        while scanned < end {
            let segmentEnd = segment < boundaries.count ? boundaries[segment] : totalSize
            let upto = min(end, segmentEnd)
            // Candidates whose whole window lies in the current chunk: earlier ones can never be
            // a cut (a chunk is at least minSize long).
            let from = max(scanned, chunkStart + ChunkerParameters.window)
            candidates.removeAll(keepingCapacity: true)
            if upto > from {
                BoundaryScanner.scan(base, from: from - origin, to: upto - origin, mask: parameters.mask, into: &candidates)
            }
            let shift = origin - segmentStart
            for i in candidates.indices { candidates[i] += shift }
            for cut in chainer.advance(candidates: candidates, scannedThrough: upto - segmentStart) {
                onCut(segmentStart + cut)
            }
            scanned = upto
            if upto == segmentEnd { closeSegment(onCut: onCut) }
        }
    }

    private mutating func closeSegment(onCut: (Int) -> Void) {
        // A fully scanned segment is always chunked to its end.
        if !chainer.isFinished {
            for cut in chainer.advance(candidates: [], scannedThrough: chainer.totalSize) { onCut(segmentStart + cut) }
        }
        precondition(chainer.isFinished, "SegmentedCutFinder: segment not finished at its end")
        if segment < boundaries.count {
            if !chainer.endsWithZeroChunk { forcedCuts += 1 }
            segmentStart = boundaries[segment]
            segment += 1
            let next = segment < boundaries.count ? boundaries[segment] : totalSize
            chainer = CutChainer(totalSize: next - segmentStart, parameters: parameters)
        } else {
            isFinished = true
            endsOnCut = chainer.endsWithZeroChunk
        }
    }
}
