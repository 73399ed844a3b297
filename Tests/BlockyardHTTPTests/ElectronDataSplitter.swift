import Foundation

/// A test port of the multipart reader of electron-updater 6.8.9 (`DataSplitter` in
/// `differentialDownloader/DataSplitter.ts`), for a request whose operations are all
/// downloads. It is fed the response body in the chunks the client's HTTP stack would hand it
/// and reproduces the reader's behaviour exactly, its known defect included
/// (shared/specs/electron-updater.md, "Known defects" 6):
///
/// * it skips `len(boundary) + 2` bytes, then looks for `\r\n\r\n` **in the current chunk**;
/// * part headers are never parsed: it takes exactly each requested length, in request order;
/// * after a part it skips `\r\n--boundary` (`len(boundary) + 4` bytes, across chunks);
/// * when a part header does not end in the current chunk it sets the chunk aside and, in the
///   next chunk, searches `\r\n\r\n` from that chunk's start only — so a header end cut after
///   its first, second or third byte is never found, the reader takes later bytes as the part
///   and never finishes (the real client then times out and falls back to a full download).
struct ElectronDataSplitter {
    private enum ReadState { case start, header, body }

    /// What happened to a whole body.
    enum Outcome: Equatable {
        /// Every part arrived with exactly the requested bytes.
        case complete
        /// The reader never finished (it desynchronised, or the body ended early).
        case stalled
        /// The reader finished or threw, but with other bytes than requested.
        case corrupt(String)
    }

    private let boundaryLength: Int
    private let lengths: [Int]
    private var partIndex = -1
    private var readState = ReadState.start
    private var ignoreByteCount: Int
    private var remainingPartDataCount = 0
    private var actualPartLength = 0
    private(set) var parts: [[UInt8]] = []
    private(set) var finished = false

    init(boundary: String, lengths: [Int]) {
        boundaryLength = boundary.utf8.count + 4
        ignoreByteCount = boundaryLength - 2
        self.lengths = lengths
    }

    private var isFinished: Bool { partIndex == lengths.count }

    struct ReaderError: Error, CustomStringConvertible { let description: String }

    /// One `_write` of the reader's stream.
    mutating func write(_ chunk: ArraySlice<UInt8>) throws {
        guard !isFinished else { return }  // "Trailing ignored data"
        let chunk = Array(chunk)
        var start = 0
        if ignoreByteCount != 0 && remainingPartDataCount != 0 {
            throw ReaderError(description: "ERR_DATA_SPLITTER_BYTE_COUNT_MISMATCH")
        }
        if ignoreByteCount > 0 {
            let skip = min(ignoreByteCount, chunk.count)
            ignoreByteCount -= skip
            start = skip
        } else if remainingPartDataCount > 0 {
            let take = min(remainingPartDataCount, chunk.count)
            remainingPartDataCount -= take
            partData(chunk, 0, take)
            start = take
        }
        if start == chunk.count { return }

        if readState == .header {
            guard let end = headerListEnd(chunk, from: start) else { return }
            start = end
            readState = .body
        }

        while true {
            if readState == .body {
                readState = .start
            } else {
                partIndex += 1
                if isFinished {
                    try partEnded()
                    finished = true
                    return
                }
                guard let end = headerListEnd(chunk, from: start) else {
                    readState = .header
                    return
                }
                start = end
            }
            let partLength = lengths[partIndex]
            let end = start + partLength
            let effectiveEnd = min(end, chunk.count)
            if partIndex != 0 { try partEnded() }
            parts.append([])
            partData(chunk, start, effectiveEnd)
            remainingPartDataCount = partLength - (effectiveEnd - start)
            if remainingPartDataCount > 0 { return }
            start = end + boundaryLength
            if start >= chunk.count {
                ignoreByteCount = boundaryLength - (chunk.count - end)
                return
            }
        }
    }

    /// `chunk.indexOf("\r\n\r\n", from)`: the position after it, or nil (the chunk is then set
    /// aside as header bytes, and never searched again).
    private func headerListEnd(_ chunk: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 4 <= chunk.count {
            if chunk[i] == 13 && chunk[i + 1] == 10 && chunk[i + 2] == 13 && chunk[i + 3] == 10 { return i + 4 }
            i += 1
        }
        return nil
    }

    private mutating func partData(_ chunk: [UInt8], _ start: Int, _ end: Int) {
        guard end > start else { return }
        actualPartLength += end - start
        parts[parts.count - 1] += chunk[start..<end]
    }

    private mutating func partEnded() throws {
        let expected = lengths[partIndex - 1]
        if actualPartLength != expected {
            throw ReaderError(description: "ERR_DATA_SPLITTER_LENGTH_MISMATCH: expected \(expected), got \(actualPartLength)")
        }
        actualPartLength = 0
    }

    /// Feeds `body` cut at `cuts` (body offsets, any order; out-of-range ones ignored) and
    /// compares what the reader took with `expected`.
    static func read(_ body: [UInt8], boundary: String, expected: [[UInt8]], cuts: [Int]) -> Outcome {
        var reader = ElectronDataSplitter(boundary: boundary, lengths: expected.map(\.count))
        var start = 0
        for cut in Set(cuts).filter({ $0 > 0 && $0 < body.count }).sorted() + [body.count] {
            do {
                try reader.write(body[start..<cut])
            } catch {
                return .corrupt("\(error)")
            }
            if reader.finished { break }
            start = cut
        }
        guard reader.finished else { return .stalled }
        for (index, part) in expected.enumerated() where reader.parts[index] != part {
            return .corrupt("part \(index) differs")
        }
        return .complete
    }

    /// ``read(_:boundary:expected:cuts:)`` once per set of cuts, on a dispatch queue: the
    /// reads are long and CPU-bound, and the cooperative pool they would otherwise hold is the
    /// one the in-process servers of other tests answer on.
    static func readAll(_ body: [UInt8], boundary: String, expected: [[UInt8]], cutSets: [[Int]]) async -> [Outcome] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: cutSets.map { read(body, boundary: boundary, expected: expected, cuts: $0) })
            }
        }
    }
}
