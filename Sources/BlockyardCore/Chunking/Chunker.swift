/// The content-defined chunker of electron-builder's blockmaps (go-rabin as configured by
/// app-builder; spec: shared `specs/blockmap.md` §3), fed incrementally.
///
/// Feed the input in buffers of any size with ``feed(_:onCut:)``; every chunk end found is
/// reported as an absolute, exclusive offset. Call ``finish()`` at end of input. The cuts do
/// not depend on how the input was split into buffers.
///
/// Per chunk, the first `minSize − 64` bytes are skipped, the next 64 prime the fingerprint,
/// and from `minSize` on each byte is rolled in and the boundary tested; `maxSize` forces a cut.
/// Nothing carries over a cut, so a chunk's end depends only on the chunk's own bytes.
public struct Chunker: Sendable {
    public let parameters: ChunkerParameters
    /// Total bytes fed so far.
    public private(set) var consumed: Int = 0
    /// Offset where the current (unfinished) chunk starts.
    public private(set) var chunkStart: Int = 0
    private var fingerprint: UInt64 = 0
    /// The last 64 bytes fed, at index `offset & 63`: outgoing bytes across feed boundaries.
    private var history: [UInt8] = Array(repeating: 0, count: 64)
    private var finished = false

    public init(parameters: ChunkerParameters = .electronBuilder) {
        self.parameters = parameters
    }

    /// Consumes `buffer` (the input bytes following everything fed before) and calls `onCut`
    /// with the end offset of each chunk completed inside it.
    public mutating func feed(_ buffer: UnsafeRawBufferPointer, onCut: (Int) -> Void) {
        precondition(!finished, "Chunker.feed after finish")
        let count = buffer.count
        guard count > 0, let raw = buffer.baseAddress else { return }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let bufStart = consumed
        let bufEnd = bufStart + count
        let push = RabinTables.standardPointer
        let pop = RabinTables.standardPointer + 256
        let minSize = parameters.minSize, maxSize = parameters.maxSize, mask = parameters.mask
        let primeStart = minSize - ChunkerParameters.window

        // Hot state in locals (stored-property access per byte costs 6x here).
        var start = chunkStart
        var h = fingerprint
        var p = bufStart
        history.withUnsafeBufferPointer { hist in
            while p < bufEnd {
                let rel = p - start
                if rel < primeStart {
                    // Skip: these bytes are never fingerprinted.
                    p = min(start + primeStart, bufEnd)
                    continue
                }
                if rel < minSize {
                    // Prime the window from scratch on the 64 bytes before start + minSize.
                    let stop = min(start + minSize, bufEnd)
                    while p < stop {
                        h = ((h &<< 8) | UInt64(base[p - bufStart])) ^ push[Int(h &>> 55)]
                        p += 1
                    }
                    if p == start + minSize && h & mask == mask {
                        onCut(p)
                        start = p
                        h = 0
                    }
                    continue
                }
                // Rolling: WH(p) was tested and did not cut; roll in byte p.
                let limit = min(bufEnd, start + maxSize)
                // Outgoing bytes before this buffer come from the history ring.
                let slowEnd = min(limit, bufStart + 64)
                var cut = false
                while p < slowEnd {
                    let out = hist[(p - 64) & 63]
                    h ^= pop[Int(out)]
                    h = ((h &<< 8) | UInt64(base[p - bufStart])) ^ push[Int(h &>> 55)]
                    p += 1
                    if h & mask == mask || p == start + maxSize { cut = true; break }
                }
                if !cut && p < limit {
                    var q = base + (p - bufStart)
                    let qEnd = base + (limit - bufStart)
                    while q < qEnd {
                        h ^= pop[Int(q[-64])]
                        h = ((h &<< 8) | UInt64(q.pointee)) ^ push[Int(h &>> 55)]
                        q += 1
                        if h & mask == mask { cut = true; break }
                    }
                    p = bufStart + (q - base)
                    if p == start + maxSize { cut = true }
                }
                if cut {
                    onCut(p)
                    start = p
                    h = 0
                }
            }
        }
        // Remember the last 64 bytes for rolling across the next feed boundary.
        let keepFrom = max(bufStart, bufEnd - 64)
        for offset in keepFrom..<bufEnd {
            history[offset & 63] = base[offset - bufStart]
        }
        consumed = bufEnd
        chunkStart = start
        fingerprint = h
    }

    /// Forces a chunk boundary at the current position (for example at an archive member or
    /// tensor boundary) and returns it, or nil when the position already is a boundary.
    /// The next chunk is chunked from scratch, exactly as after a content-defined cut.
    public mutating func cutHere() -> Int? {
        precondition(!finished, "Chunker.cutHere after finish")
        guard consumed > chunkStart else { return nil }
        chunkStart = consumed
        fingerprint = 0
        return consumed
    }

    /// Ends the input. Returns the end offset of the final chunk if bytes remain after the
    /// last cut (a chunk ended by end of input), or nil when the last cut fell exactly on the
    /// end of input (or the input was empty) — the case where app-builder emits a trailing
    /// zero-length chunk and electron-builder ≥ 26.14 emits nothing.
    public mutating func finish() -> Int? {
        precondition(!finished, "Chunker.finish called twice")
        finished = true
        return consumed > chunkStart ? consumed : nil
    }

    /// All chunk ends of a complete input held in memory (the final end included when
    /// the input does not end exactly on a cut).
    public static func chunkEnds(of bytes: UnsafeRawBufferPointer,
                                 parameters: ChunkerParameters = .electronBuilder) -> [Int] {
        var chunker = Chunker(parameters: parameters)
        var ends: [Int] = []
        ends.reserveCapacity(bytes.count / parameters.minSize + 1)
        chunker.feed(bytes) { ends.append($0) }
        if let last = chunker.finish() { ends.append(last) }
        return ends
    }
}
