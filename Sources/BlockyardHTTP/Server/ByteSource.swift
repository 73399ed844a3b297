import BlockyardCore
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

/// Bytes that can be read at any offset, from a thread-pool thread (reads block).
protocol ByteSource: Sendable {
    /// Fills `buffer` with the bytes at `offset ..< offset + buffer.count`; throws when any of
    /// them cannot be read (the file shrank, a chunk is missing).
    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

/// Why bytes promised in a response's headers could not be produced. The connection is then
/// closed early, so the client sees a truncated body rather than wrong bytes.
struct SourceReadError: Error, CustomStringConvertible {
    let description: String
}

/// An open regular file, read with `pread(2)`. The descriptor is closed when the last
/// response using it is gone (including one that was never written because the client left).
final class FileByteSource: ByteSource, @unchecked Sendable {
    let path: String
    let descriptor: Int32

    /// Takes ownership of `descriptor`.
    init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SourceReadError(description: "\(path): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                throw SourceReadError(description: "\(path): the file ended at byte \(offset + done) while it was being served")
            }
            done += n
        }
    }
}

/// Bytes held in memory (channel files made on the fly, rebuilt blockmaps, pages).
struct MemoryByteSource: ByteSource {
    let bytes: [UInt8]

    func read(offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard offset >= 0, offset + buffer.count <= bytes.count else {
            throw SourceReadError(description: "read beyond the end of an in-memory body")
        }
        bytes.withUnsafeBytes { src in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + buffer.count)]))
        }
    }
}

/// A response body as a list of literal bytes and ranges of a ``ByteSource``: a plain file,
/// one range, or the parts and framing of a `multipart/byteranges` body.
struct BodyPlan: Sendable {
    enum Segment: Sendable {
        case literal([UInt8])
        case source(offset: Int, length: Int)

        var length: Int {
            switch self {
            case .literal(let bytes): return bytes.count
            case .source(_, let length): return length
            }
        }

        var isLiteral: Bool { if case .literal = self { return true } else { return false } }
    }

    let segments: [Segment]
    /// The body position of each segment's first byte.
    private let starts: [Int]
    let length: Int

    init(_ segments: [Segment]) {
        self.segments = segments.filter { $0.length > 0 }
        var starts: [Int] = []
        starts.reserveCapacity(self.segments.count)
        var position = 0
        for segment in self.segments {
            starts.append(position)
            position += segment.length
        }
        self.starts = starts
        length = position
    }

    /// The whole of a source of `size` bytes.
    static func whole(size: Int) -> BodyPlan { BodyPlan([.source(offset: 0, length: size)]) }

    /// One range.
    static func range(_ range: ByteRange) -> BodyPlan { BodyPlan([.source(offset: range.offset, length: range.length)]) }

    /// The multipart/byteranges body of `encoder`: each part's header then its bytes, in
    /// request order, then the closing delimiter.
    static func multipart(_ encoder: MultipartByterangesEncoder) -> BodyPlan {
        var segments: [Segment] = []
        segments.reserveCapacity(encoder.ranges.count * 2 + 1)
        for (index, range) in encoder.ranges.enumerated() {
            segments.append(.literal(encoder.partHeader(index)))
            segments.append(.source(offset: range.offset, length: range.length))
        }
        segments.append(.literal(encoder.closing))
        return BodyPlan(segments)
    }

    /// The index of the segment holding body position `position` (`position < length`).
    private func segmentIndex(at position: Int) -> Int {
        var low = 0
        var high = starts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= position { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Where a write that starts at body position `start` and should hold about `limit`
    /// bytes ends.
    ///
    /// * Never inside a literal (a multipart part header or the closing delimiter), and never
    ///   right after a part header: a part header always goes out in the same write as the
    ///   first bytes of its data.
    /// * Where it can, at a multiple of `step` bytes of the body: a client that catches up
    ///   with the server reads up to a write's end and, falling behind again, reads on in
    ///   fixed steps from there; ends on `step` multiples keep those reads in step with the
    ///   body's start, which ``MultipartByterangesEncoder/alignHeaderEnds(readOrigins:alignment:)``
    ///   keeps clear of part header ends.
    ///
    /// A block that starts with a part header takes it whole and up to `limit` bytes of the
    /// data after it.
    func blockEnd(from start: Int, limit: Int, step: Int = 1024) -> Int {
        precondition(start < length && limit > 0 && step > 0)
        let end = min(start + limit, length)
        guard end < length else { return end }
        // The aligned cuts at or below `end`, from the top.
        var candidate = end - end % step
        while candidate > start {
            if isAllowedCut(candidate) { return candidate }
            candidate -= step
        }
        if isAllowedCut(end) { return end }
        // No aligned cut: just before the literal the cut falls in or after.
        let index = segmentIndex(at: end - 1)
        if segments[index].isLiteral {
            let literalStart = starts[index]
            if literalStart > start { return literalStart }
            // The block starts at this literal: take it and data after it.
            let next = index + 1
            return starts[index] + segments[index].length + min(limit, next < segments.count ? segments[next].length : 0)
        }
        return end
    }

    /// A write may end at `position` unless the byte before it belongs to a literal (the cut
    /// would fall inside a part header or right after one).
    private func isAllowedCut(_ position: Int) -> Bool {
        guard position > 0 && position < length else { return true }
        return !segments[segmentIndex(at: position - 1)].isLiteral
    }

    /// Reads body bytes `start ..< end` into a new buffer. Runs on a thread-pool thread
    /// (except for small bodies).
    func fill(from start: Int, to end: Int, source: any ByteSource, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let size = end - start
        var buffer = allocator.buffer(capacity: size)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var position = start
            var index = segmentIndex(at: start)
            while position < end {
                let segment = segments[index]
                let offset = position - starts[index]
                let take = min(segment.length - offset, end - position)
                let destination = UnsafeMutableRawBufferPointer(rebasing: out[(position - start)..<(position - start + take)])
                switch segment {
                case .literal(let bytes):
                    bytes.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + take)])) }
                case .source(let sourceOffset, _):
                    try source.read(offset: sourceOffset + offset, into: destination)
                }
                position += take
                index += 1
            }
            return size
        }
        return buffer
    }
}

/// A body whose connection closed while it waited for the client to read (the client left,
/// or stopped reading for the send timeout).
struct ConnectionClosedError: Error, CustomStringConvertible {
    var description: String { "the connection closed while the body was being sent" }
}

/// Streams a ``BodyPlan`` to a response, one block at a time, each read only when the
/// connection has taken the previous one.
///
/// A block is read only when less than half of the previous one is still on its way to the
/// socket, so a response holds at most one and a half blocks. Blocks start at
/// ``initialBlockSize`` and double up to `blockSize` while the socket keeps up; a wait longer
/// than ``slowWait`` (a client slower than the disk) starts again from the small size. A slow
/// client thus holds about 100 KiB of this process's memory (plus what the kernel buffers); a
/// fast one gets large reads. The send timeout itself is enforced by ``ServeConnectionHandler``.
struct BodyStreamer: Sendable {
    static let defaultBlockSize = 1 << 20
    static let initialBlockSize = 64 << 10
    /// Bodies up to this size are read without a trip to the thread pool.
    static let inlineLimit = 64 << 10
    /// A wait for the socket longer than this marks a client slower than the disk.
    static let slowWait = Duration.milliseconds(20)

    let pool: NIOThreadPool
    let blockSize: Int

    func stream(_ plan: BodyPlan, from source: any ByteSource, to writer: inout any ResponseBodyWriter,
                connection: ServeConnection?, sent: @Sendable (Int) -> Void) async throws {
        let allocator = ByteBufferAllocator()
        if plan.length > 0 && plan.length <= Self.inlineLimit {
            // A small body (a channel file, one chunk-sized range) is read right here: a
            // pread of a few pages costs less than the two thread switches of the pool (the
            // same trade nginx makes by reading on its event loop).
            let buffer = try plan.fill(from: 0, to: plan.length, source: source, allocator: allocator)
            try await writer.write(buffer)
            sent(buffer.readableBytes)
        } else {
            var position = 0
            var limit = min(Self.initialBlockSize, blockSize)
            // What the socket had taken before this body: the body's bytes it has not taken
            // yet are `position - (completed - base)` (give or take this response's head).
            let base = connection?.bytesCompleted ?? 0
            while position < plan.length {
                var grow = true
                if let connection, position - (connection.bytesCompleted - base) > limit / 2 {
                    // More than half a block is still on its way to the socket: wait. A long
                    // wait means a client slower than the disk: go on with small blocks.
                    let waitStarted = ContinuousClock.now
                    guard await connection.waitUntilCompleted(atLeast: base + position - limit / 2) else { throw ConnectionClosedError() }
                    if ContinuousClock.now - waitStarted > Self.slowWait {
                        limit = min(Self.initialBlockSize, blockSize)
                        grow = false
                    }
                }
                let start = position
                let end = plan.blockEnd(from: start, limit: limit)
                let buffer = try await pool.runIfActive { try plan.fill(from: start, to: end, source: source, allocator: allocator) }
                try await writer.write(buffer)
                sent(buffer.readableBytes)
                position = end
                if grow { limit = min(limit * 2, blockSize) }
            }
        }
        try await writer.finish(nil)
    }
}
