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
    }

    var segments: [Segment]
    let length: Int

    init(_ segments: [Segment]) {
        self.segments = segments.filter { $0.length > 0 }
        length = self.segments.reduce(0) { $0 + $1.length }
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

    /// A position in the plan: segment index and offset inside it.
    struct Cursor: Sendable, Equatable {
        var segment = 0
        var offset = 0
    }

    /// Reads up to `limit` bytes from `cursor` into a new buffer; returns it and the cursor
    /// after it. Runs on a thread-pool thread.
    func fill(from start: Cursor, limit: Int, source: any ByteSource, allocator: ByteBufferAllocator) throws -> (ByteBuffer, Cursor) {
        var cursor = start
        var size = 0
        // Size the buffer exactly.
        var probe = cursor
        while probe.segment < segments.count && size < limit {
            let take = min(segments[probe.segment].length - probe.offset, limit - size)
            size += take
            probe.offset += take
            if probe.offset == segments[probe.segment].length { probe = Cursor(segment: probe.segment + 1, offset: 0) }
        }
        var buffer = allocator.buffer(capacity: size)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var written = 0
            while written < size {
                let segment = segments[cursor.segment]
                let take = min(segment.length - cursor.offset, size - written)
                let destination = UnsafeMutableRawBufferPointer(rebasing: out[written..<(written + take)])
                switch segment {
                case .literal(let bytes):
                    bytes.withUnsafeBytes { destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[cursor.offset..<(cursor.offset + take)])) }
                case .source(let offset, _):
                    try source.read(offset: offset + cursor.offset, into: destination)
                }
                written += take
                cursor.offset += take
                if cursor.offset == segment.length { cursor = Cursor(segment: cursor.segment + 1, offset: 0) }
            }
            return size
        }
        return (buffer, cursor)
    }

    func isEnd(_ cursor: Cursor) -> Bool { cursor.segment >= segments.count }
}

/// Streams a ``BodyPlan`` to a response: blocks of up to `blockSize` bytes read on the
/// thread pool, the next block read while the current one is written, so at most two blocks
/// per response are in memory.
struct BodyStreamer: Sendable {
    static let defaultBlockSize = 1 << 20
    /// Bodies up to this size are read without a trip to the thread pool.
    static let inlineLimit = 64 << 10

    let pool: NIOThreadPool
    let blockSize: Int

    func stream(_ plan: BodyPlan, from source: any ByteSource, to writer: inout any ResponseBodyWriter,
                sent: @Sendable (Int) -> Void) async throws {
        let allocator = ByteBufferAllocator()
        let limit = blockSize
        if plan.length > 0 && plan.length <= Self.inlineLimit {
            // A small body (a channel file, one chunk-sized range) is read right here: a
            // pread of a few pages costs less than the two thread switches of the pool (the
            // same trade nginx makes by reading on its event loop).
            let (buffer, _) = try plan.fill(from: BodyPlan.Cursor(), limit: limit, source: source, allocator: allocator)
            try await writer.write(buffer)
            sent(buffer.readableBytes)
        } else if plan.length > 0 {
            var current = try await pool.runIfActive { try plan.fill(from: BodyPlan.Cursor(), limit: limit, source: source, allocator: allocator) }
            while true {
                let next = current.1
                if plan.isEnd(next) {
                    try await writer.write(current.0)
                    sent(current.0.readableBytes)
                    break
                }
                async let upcoming = pool.runIfActive { try plan.fill(from: next, limit: limit, source: source, allocator: allocator) }
                try await writer.write(current.0)
                sent(current.0.readableBytes)
                current = try await upcoming
            }
        }
        try await writer.finish(nil)
    }
}
