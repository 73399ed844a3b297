import BlockyardCore
@testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("Tensor boundaries (safetensors, GGUF)")
struct TensorBoundaryTests {
    final class MemoryStream: ByteStream {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            let n = min(buffer.count, bytes.count - position, 1000) // short reads on purpose
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
            position += n
            return n
        }
    }

    static func detect(_ bytes: [UInt8], size: Int? = nil) throws -> TensorBoundaries.Result? {
        let stream = PeekableStream(MemoryStream(bytes))
        let result = try TensorBoundaries.detect(stream, size: size ?? bytes.count)
        // Detection only peeks: the stream still yields every byte.
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { break }
            all += buffer[0..<n]
        }
        #expect(all == bytes)
        return result
    }

    @Test func safetensorsOffsets() throws {
        let tensors = [("a", [UInt8](repeating: 1, count: 10_000)), ("b", [UInt8](repeating: 2, count: 0)),
                       ("c", [UInt8](repeating: 3, count: 100)), ("d", [UInt8](repeating: 4, count: 8192)),
                       ("e", [UInt8](repeating: 5, count: 5000))]
        let file = StoreFixtures.safetensors(tensors)
        let headerLength = file.withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
        let start = 8 + headerLength
        let result = try #require(try Self.detect(file))
        #expect(result.format == .safetensors)
        // Data start; both ends of a (10,000 B) and d (8192 B, the chunker's minimum). The
        // tensors below the minimum (b, c, e) force no cuts of their own.
        #expect(result.offsets == [start, start + 10_000, start + 10_100, start + 18_292])
    }

    @Test func manyTinyTensorsForceNoCuts() throws {
        // 100,000 tensors of 4 bytes: before, every one was cut out (100,000 chunks of 4 bytes,
        // about 4 KB of memory each); now only the data start is, and the run is chunked by
        // content like any other bytes.
        let count = 100_000
        var header = Array(#"{"__metadata__":{"format":"pt","nested":[{"a":[1,2.5e3,-0.5,true,false,null]}]}"#.utf8)
        for k in 0..<count {
            header += Array(#","t\#(k)\u00e9":{"dtype":"F32","shape":[1],"data_offsets":[\#(4 * k),\#(4 * k + 4)]}"#.utf8)
        }
        header += Array("}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file += $0 }
        file += header
        file += VectorInputs.randomBytes(seed: 12, count: 4 * count)
        let result = try #require(TensorBoundaries.safetensors(file, size: file.count))
        #expect(result.format == .safetensors)
        #expect(result.offsets == [8 + header.count])
        // Through the store: about as many chunks as without tensor cuts, not 100,000.
        let dir = try TemporaryDirectory("store")
        let store = try StoreFixtures.store(in: dir)
        let path = try dir.write("tiny.safetensors", file)
        let aware = try store.add(path: path, as: StoreFixtures.ref("tiny@1"))
        var options = AddOptions()
        options.aware = false
        let plain = try store.add(path: path, as: StoreFixtures.ref("tiny@plain"), options: options)
        let member = try store.manifest(StoreFixtures.ref("tiny@1")).members[0]
        #expect(member.boundaryFormat == .safetensors && member.forcedCuts <= 1)
        #expect(aware.chunks <= plain.chunks + 2, "\(aware.chunks) chunks with tensor cuts, \(plain.chunks) without")
        #expect(try StoreFixtures.bytes(store, "tiny@1") == file)
    }

    @Test func invalidSafetensorsHeadersAreNotTrusted() throws {
        func header(_ json: String) -> [UInt8] {
            var h = Array(json.utf8)
            var file: [UInt8] = []
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { file += $0 }
            file += h
            h = [UInt8](repeating: 7, count: 20_000)
            return file + h
        }
        let good = #"{"a":{"dtype":"U8","shape":[20000],"data_offsets":[0,20000]}}"#
        #expect(TensorBoundaries.safetensors(header(good), size: nil) != nil)
        for bad in [#"{"a":{"dtype":"U8","data_offsets":[0,20000]},}"#,       // trailing comma
                    #"{"a":{"dtype":"U8","data_offsets":[0,20000.0]}}"#,      // not an integer
                    #"{"a":{"dtype":"U8","data_offsets":[20000,0]}}"#,        // end before begin
                    #"{"a":{"dtype":"U8","data_offsets":[0]}}"#,              // one offset
                    #"{"a":{"dtype":"U8"}}"#,                                 // no offsets
                    #"{"a":{"dtype":"U8","data_offsets":[0,20000]}} x"#,      // data after the object
                    #"{"a":{"dtype":"U\8","data_offsets":[0,20000]}}"#,       // bad escape
                    #"{"a":{"dtype":"U8","data_offsets":[01,20000]}}"#,       // leading zero
                    "{\"a\":{\"x\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
                        + #","data_offsets":[0,20000]}}"#] {                  // nested too deep
            #expect(TensorBoundaries.safetensors(header(bad), size: nil) == nil, "\(bad.prefix(60))")
        }
    }

    @Test func ggufOffsets() throws {
        let tensors = (0..<4).map { i in ("blk.\(i).weight", VectorInputs.randomBytes(seed: UInt64(i), count: 4 * (3000 + 77 * i))) }
        let (file, dataStart, starts) = StoreFixtures.gguf(tensors, alignment: 64)
        let result = try #require(try Self.detect(file))
        #expect(result.format == .gguf)
        #expect(result.offsets == Array(Set([dataStart] + starts)).sorted())
        #expect(dataStart % 64 == 0)
        // Tensors below the chunker's minimum force no cuts: only where a large one starts or ends.
        let small = [100, 100, 40_000, 100, 100].enumerated().map { ("t\($0.offset)", VectorInputs.randomBytes(seed: 9, count: 4 * $0.element)) }
        let (mixed, mixedStart, mixedStarts) = StoreFixtures.gguf(small, alignment: 32)
        let cuts = try #require(try Self.detect(mixed))
        #expect(cuts.offsets == [mixedStart, mixedStarts[2], mixedStarts[3]])
    }

    @Test func ggufWithLargeMetadataIsReadProgressively() throws {
        // A 2 MiB token puts the tensor infos beyond the first MiB: detection must read further.
        let long = String(repeating: "x", count: 2 << 20)
        var built: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { built.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { built.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); built += Array(s.utf8) }
        built += Array("GGUF".utf8); u32(3); u64(1); u64(1)
        str("tokenizer.ggml.tokens"); u32(9); u32(8); u64(1); str(long)
        str("t0"); u32(1); u64(64); u32(0); u64(0)
        while built.count % 32 != 0 { built.append(0) }
        let dataStart = built.count
        built += VectorInputs.randomBytes(seed: 1, count: 256) + VectorInputs.randomBytes(seed: 2, count: 100)
        let result = try #require(try Self.detect(built))
        #expect(result.offsets == [dataStart])
    }

    @Test func nonModelFilesHaveNoBoundaries() throws {
        #expect(try Self.detect(VectorInputs.randomBytes(seed: 5, count: 100_000)) == nil)
        #expect(try Self.detect([UInt8](repeating: 0, count: 100)) == nil)
        #expect(try Self.detect(Array("GGUF garbage".utf8)) == nil)
        // A safetensors header whose offsets run past the file is not trusted.
        let file = StoreFixtures.safetensors([("a", [UInt8](repeating: 1, count: 1000))])
        #expect(try Self.detect(Array(file.dropLast(10))) == nil)
        // Header length announced but the JSON is not valid.
        var broken = file
        broken[12] = UInt8(ascii: "}")
        #expect(try Self.detect(broken) == nil)
    }
}
