import CZlib

/// Inflates one gzip member or raw DEFLATE stream piece by piece, pulling compressed bytes
/// from `read` as it needs them, so that neither the compressed nor the inflated data is
/// ever held whole (a blockmap is parsed as it inflates). The same checks as
/// ``Zlib/decompress(_:format:limit:)``: truncated or corrupt data, bytes after the end of
/// the stream, and more than `limit` inflated bytes are errors (``CompressionError``); errors
/// thrown by `read` pass through unchanged.
final class BlockmapInflater {
    private var stream = z_stream()
    private let format: Zlib.Format
    private let limit: Int
    private let read: (UnsafeMutableRawBufferPointer) throws -> Int
    private let input: UnsafeMutableRawBufferPointer
    private var inputEnded = false
    private var finished = false
    private(set) var produced = 0

    init(format: Zlib.Format, limit: Int, inputPiece: Int = 1 << 20,
         read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.format = format
        self.limit = limit
        self.read = read
        input = .allocate(byteCount: inputPiece, alignment: 16)
        let result = czlib_inflateInit2(&stream, format.windowBits)
        precondition(result == Z_OK, "inflateInit2 failed (\(result))")
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    /// Fills `buffer` with the next inflated bytes; 0 once the stream has ended (after its
    /// end was checked: nothing may follow it).
    func next(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(buffer.count)
        while stream.avail_out > 0 {
            if stream.avail_in == 0 && !inputEnded {
                let n = try read(input)
                if n == 0 {
                    inputEnded = true
                } else {
                    stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    stream.avail_in = UInt32(n)
                }
            }
            let result = inflate(&stream, Z_NO_FLUSH)
            let count = buffer.count - Int(stream.avail_out)
            guard produced + count <= limit else { throw CompressionError.tooLarge(limit: limit) }
            switch result {
            case Z_STREAM_END:
                finished = true
                try checkNothingFollows()
                produced += count
                return count
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress: the input ended before the stream did.
                if stream.avail_in == 0 && inputEnded { throw CompressionError.truncated(format: format.name) }
                continue
            default:
                let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(result)"
                throw CompressionError.corrupt(format: format.name, detail: detail)
            }
        }
        let count = buffer.count
        produced += count
        return count
    }

    /// Counts what follows the end of the stream; any byte is an error.
    private func checkNothingFollows() throws {
        var extra = Int(stream.avail_in)
        stream.avail_in = 0
        while !inputEnded {
            let n = try read(input)
            if n == 0 { inputEnded = true } else { extra += n }
        }
        if extra > 0 { throw CompressionError.trailingData(format: format.name, count: extra) }
    }
}
