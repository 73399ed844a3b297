import CZstd

/// Why a zstd frame could not be decoded into the expected bytes.
public enum ZstdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input is not one well-formed zstd frame (bad magic, invalid block, truncated…);
    /// `detail` is libzstd's reason.
    case corrupt(detail: String)
    /// The frame decodes, or declares that it decodes, to a size other than the one expected.
    case sizeMismatch(expected: Int, actual: Int)
    /// The frame (whose header does not declare its size) decodes to more than expected.
    case exceedsSize(expected: Int)
    /// Bytes follow the end of the single frame.
    case trailingData(count: Int)

    public var description: String {
        switch self {
        case .corrupt(let detail):
            return "corrupt zstd frame: \(detail)"
        case .sizeMismatch(let expected, let actual):
            return "zstd frame decodes to \(actual) bytes, expected \(expected)"
        case .exceedsSize(let expected):
            return "zstd frame decodes to more than the expected \(expected) bytes"
        case .trailingData(let count):
            return "\(count) bytes of unexpected data after the zstd frame"
        }
    }
}

/// One-shot zstd compression of single buffers through libzstd, with a context reused across
/// calls (creating one costs more than compressing a small chunk). Not thread-safe: one
/// compressor per thread.
public final class ZstdCompressor {
    /// The compression level (1 fastest … 19; negative levels are faster still).
    public let level: Int32
    private let context: OpaquePointer

    public init(level: Int32) {
        self.level = level
        guard let cctx = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx failed: out of memory") }
        context = cctx
        // The frame records the content size (readers check it); no xxhash checksum: every
        // chunk Blockyard compresses is covered by a SHA-256 of its own.
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0)
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The largest frame ``compress(_:into:)`` can produce for `count` input bytes.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `input` into `output` (at least ``bound(_:)`` bytes) as one frame and returns
    /// the frame's length.
    public func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= Self.bound(input.count), "ZstdCompressor: output smaller than the bound")
        // libzstd accepts a null source only with size 0; give it a valid address anyway.
        var empty: UInt8 = 0
        let result = withUnsafeMutablePointer(to: &empty) { emptyPointer in
            ZSTD_compress2(context, output.baseAddress, output.count,
                           input.baseAddress ?? UnsafeRawPointer(emptyPointer), input.count)
        }
        precondition(ZSTD_isError(result) == 0, "ZSTD_compress2 failed: \(String(cString: ZSTD_getErrorName(result)))")
        return result
    }

    /// Compresses `input` as one frame.
    public func compress(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Self.bound(input.count))
        let n = input.withUnsafeBytes { inBuf in output.withUnsafeMutableBytes { compress(inBuf, into: $0) } }
        output.removeLast(output.count - n)
        return output
    }
}

/// Decoding of single zstd frames whose decoded size is known in advance (as the delivery
/// index records it): the output is allocated once at that size, so hostile input can never
/// make it allocate more.
public final class ZstdDecompressor {
    private let context: OpaquePointer

    public init() {
        guard let dctx = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx failed: out of memory") }
        context = dctx
    }

    deinit { ZSTD_freeDCtx(context) }

    /// Decodes `frame`, which must be exactly one zstd frame declaring and producing exactly
    /// `output.count` bytes, into `output`.
    public func decompress(_ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(ZstdError) {
        let expected = output.count
        guard let source = frame.baseAddress, frame.count > 0 else {
            throw .corrupt(detail: "empty input")
        }
        let frameLength = ZSTD_findFrameCompressedSize(source, frame.count)
        if ZSTD_isError(frameLength) != 0 {
            throw .corrupt(detail: String(cString: ZSTD_getErrorName(frameLength)))
        }
        if frameLength < frame.count { throw .trailingData(count: frame.count - frameLength) }
        let declared = ZSTD_getFrameContentSize(source, frame.count)
        if declared == czstd_contentsize_error() { throw .corrupt(detail: "invalid frame header") }
        if declared != czstd_contentsize_unknown() && declared != UInt64(expected) {
            throw .sizeMismatch(expected: expected, actual: declared > UInt64(Int.max) ? Int.max : Int(declared))
        }
        var scratch: UInt8 = 0
        let produced = withUnsafeMutablePointer(to: &scratch) { scratchPointer in
            ZSTD_decompressDCtx(context, output.baseAddress ?? UnsafeMutableRawPointer(scratchPointer), expected,
                                source, frame.count)
        }
        if ZSTD_isError(produced) != 0 {
            let name = String(cString: ZSTD_getErrorName(produced))
            // Only an undeclared size can overflow the buffer: the frame holds more than expected.
            if ZSTD_getErrorCode(produced) == ZSTD_error_dstSize_tooSmall {
                throw .exceedsSize(expected: expected)
            }
            throw .corrupt(detail: name)
        }
        if produced != expected { throw .sizeMismatch(expected: expected, actual: produced) }
    }

    /// Decodes `frame` into a new buffer of `size` bytes.
    public func decompress(_ frame: [UInt8], size: Int) throws(ZstdError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        let result = frame.withUnsafeBytes { inBuf in
            output.withUnsafeMutableBytes { outBuf in
                Result { () throws(ZstdError) in try decompress(inBuf, into: outBuf) }
            }
        }
        try result.get()
        return output
    }
}
