import CZlib

/// Why compressed data could not be decoded.
public enum CompressionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data ends before the compressed stream does.
    case truncated(format: String)
    /// zlib rejected the data (bad header, invalid codes, checksum mismatch…).
    case corrupt(format: String, detail: String)
    /// Bytes follow the end of the compressed stream.
    case trailingData(format: String, count: Int)
    /// The decoded data would exceed the caller's limit.
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .truncated(let format):
            return "truncated \(format) data: the input ends before the end of the compressed stream"
        case .corrupt(let format, let detail):
            return "corrupt \(format) data: \(detail)"
        case .trailingData(let format, let count):
            return "\(count) bytes of unexpected data after the end of the \(format) stream"
        case .tooLarge(let limit):
            return "decompressed data exceeds the limit of \(limit) bytes"
        }
    }
}

/// DEFLATE through zlib in the two framings blockmaps use.
public enum Zlib {
    public enum Format: Sendable {
        /// RFC 1952 gzip member (`.blockmap` files).
        case gzip
        /// RFC 1951 raw DEFLATE, no header or trailer (blockmaps embedded in artifacts).
        case raw

        var windowBits: Int32 { self == .gzip ? 31 : -15 }
        var name: String { self == .gzip ? "gzip" : "DEFLATE" }
    }

    /// Compresses `input` at `level` (electron-builder uses 9).
    public static func compress(_ input: [UInt8], format: Format, level: Int32 = 9) -> [UInt8] {
        var stream = z_stream()
        let initResult = czlib_deflateInit2(&stream, level, Z_DEFLATED, format.windowBits, 8, Z_DEFAULT_STRATEGY)
        precondition(initResult == Z_OK, "deflateInit2 failed (\(initResult))")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(input.count))) + 64
        var output = [UInt8](repeating: 0, count: bound)
        var input = input
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let result = deflate(&stream, Z_FINISH)
                precondition(result == Z_STREAM_END, "deflate did not finish (\(result))")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        output.removeLast(output.count - produced)
        return output
    }

    /// Decompresses exactly one complete stream filling all of `input`.
    /// - Parameter limit: the largest output accepted (guards against decompression bombs).
    public static func decompress(_ input: [UInt8], format: Format, limit: Int = 512 << 20) throws(CompressionError) -> [UInt8] {
        var stream = z_stream()
        let initResult = czlib_inflateInit2(&stream, format.windowBits)
        precondition(initResult == Z_OK, "inflateInit2 failed (\(initResult))")
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var outcome: Result<Void, CompressionError> = .success(())
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let (result, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    let r = inflate(&stream, Z_NO_FLUSH)
                    return (r, outBuf.count - Int(stream.avail_out))
                }
                if output.count + produced > limit {
                    outcome = .failure(.tooLarge(limit: limit))
                    return
                }
                output.append(contentsOf: chunk[0..<produced])
                switch result {
                case Z_STREAM_END:
                    if stream.avail_in > 0 {
                        outcome = .failure(.trailingData(format: format.name, count: Int(stream.avail_in)))
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: input exhausted before the end of the stream.
                    if stream.avail_in == 0 {
                        outcome = .failure(.truncated(format: format.name))
                        return
                    }
                    continue
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(result)"
                    outcome = .failure(.corrupt(format: format.name, detail: detail))
                    return
                }
            }
        }
        try outcome.get()
        return output
    }
}
