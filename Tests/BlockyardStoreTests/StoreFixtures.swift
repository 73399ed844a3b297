import BlockyardCore
@_spi(Testing) @testable import BlockyardStore
import BlockyardTestSupport
import Foundation

/// Stores, inputs and model files for the store tests.
enum StoreFixtures {
    /// A new store in `dir`/store.
    static func store(in dir: TemporaryDirectory, mapSize: Int? = nil) throws -> ChunkStore {
        var options = ChunkStore.Options()
        options.mapSize = mapSize
        return try ChunkStore.initialize(at: dir.path("store"), options: options).store
    }

    /// The bytes of a stored member, rebuilt and verified.
    static func bytes(_ store: ChunkStore, _ ref: String, member: String? = nil) throws -> [UInt8] {
        let ref = try VersionRef(parsing: ref)
        let manifest = try store.manifest(ref)
        var out: [UInt8] = []
        _ = try store.reconstruct(try store.member(of: manifest, path: member), of: ref) { pieces in
            for p in pieces { out.append(contentsOf: p) }
        }
        return out
    }

    static func ref(_ text: String) -> VersionRef { try! VersionRef(parsing: text) }

    /// A safetensors file: 8-byte header length, JSON header (padded with spaces to a
    /// multiple of 8, as the reference writer does), then the tensors in order.
    static func safetensors(_ tensors: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var entries: [String] = []
        var offset = 0
        for t in tensors {
            entries.append("\"\(t.name)\":{\"dtype\":\"U8\",\"shape\":[\(t.bytes.count)],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}")
            offset += t.bytes.count
        }
        var header = Array(("{\"__metadata__\":{\"format\":\"pt\"}," + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out += header
        for t in tensors { out += t.bytes }
        return out
    }

    /// A GGUF v3 file with some metadata (a string, an array of strings, the alignment)
    /// and F32 tensors, each starting at a multiple of `alignment`.
    static func gguf(_ tensors: [(name: String, bytes: [UInt8])], alignment: UInt32 = 64) -> (bytes: [UInt8], dataStart: Int, starts: [Int]) {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        out += Array("GGUF".utf8)
        u32(3)
        u64(UInt64(tensors.count))
        u64(3)
        str("general.architecture"); u32(8); str("test")
        str("tokenizer.ggml.tokens"); u32(9); u32(8); u64(3); str("a"); str("bb"); str("ccc")
        str("general.alignment"); u32(4); u32(alignment)
        var offset = 0
        var starts: [Int] = []
        for t in tensors {
            str(t.name)
            u32(1)
            u64(UInt64(t.bytes.count / 4))
            u32(0) // F32
            u64(UInt64(offset))
            starts.append(offset)
            offset += (t.bytes.count + Int(alignment) - 1) / Int(alignment) * Int(alignment)
        }
        while out.count % Int(alignment) != 0 { out.append(0) }
        let dataStart = out.count
        for t in tensors {
            out += t.bytes
            while (out.count - dataStart) % Int(alignment) != 0 { out.append(0) }
        }
        return (out, dataStart, starts.map { $0 + dataStart })
    }

    /// Runs a command line tool (tar, zip) in `directory`.
    @discardableResult
    static func tool(_ path: String, _ args: [String], in directory: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: directory)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    static var hasZip: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/zip") }
}
