import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("blockyard blockmap")
struct BlockmapCommandTests {
    /// The CLI prints app-builder's info JSON and writes a gzip'd blockmap whose JSON is exact.
    @Test(arguments: ["hello-world", "random-2-87456", "random-4342-8192", "empty", "random-2-3145728"])
    func generateMatchesVectors(name: String) throws {
        let dir = try TemporaryDirectory()
        let expected = try SharedVectors.expected(name)
        let input = try dir.write(name, VectorInputs.generate(name)!)
        for compat in ["electron-builder", "app-builder"] {
            let output = dir.path("\(name).\(compat).blockmap")
            let run = try CommandRunner.run(["blockmap", "--input", input, "--output", output, "--compat", compat])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout == expected.infoJSON)
            let blockmap = try BlockmapCodec.decodeGzip(Array(try Data(contentsOf: URL(fileURLWithPath: output))))
            #expect(blockmap.json == (compat == "app-builder" ? expected.blockmapJSON : expected.electronBuilderJSON))
            let printed = try CommandRunner.run(["blockmap", "inspect", output, "--print-json"])
            #expect(printed.stdout == blockmap.json)
        }
    }

    @Test func embeddedModeRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let name = "random-2-3145728"
        let expected = try SharedVectors.expected(name)
        let original = VectorInputs.generate(name)!
        let path = try dir.write("app.AppImage", original)
        let run = try CommandRunner.run(["blockmap", "--input", path, "--compression", "deflate", "--compat", "app-builder"])
        #expect(run.status == 0, "\(run.stderr)")
        let info = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        let grown = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let blockMapSize = info["blockMapSize"] as! Int
        #expect(info["size"] as? Int == grown.count)
        #expect(grown.count == original.count + blockMapSize + 4)
        #expect(Array(grown.prefix(original.count)) == original)
        #expect(info["sha512"] as? String == SHA2Hasher.hash(.sha512, grown).base64)
        let json = try Zlib.decompress(Array(grown[original.count..<(original.count + blockMapSize)]), format: .raw)
        #expect(String(decoding: json, as: UTF8.self) == expected.blockmapJSON)
        let inspect = try CommandRunner.run(["blockmap", "inspect", "--embedded", path, "--json"])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("\"totalSize\" : \(original.count)"))
    }

    @Test func embeddedNeedsDeflate() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("x", [1, 2, 3])
        let run = try CommandRunner.run(["blockmap", "--input", path])
        #expect(run.status == 64)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == [1, 2, 3])
    }

    @Test func inspectRejectsBadInput() throws {
        let dir = try TemporaryDirectory()
        let data = VectorInputs.randomBytes(seed: 8, count: 300_000)
        let blockmap = data.withUnsafeBytes { BlockmapBuilder.build($0) }.blockmap
        let gz = BlockmapCodec.encodeGzip(blockmap)
        let cases: [(String, [UInt8], String)] = [
            ("plain.json", Array(blockmap.json.utf8), "not gzip data"),
            ("truncated.blockmap", Array(gz.prefix(gz.count / 2)), "truncated gzip data"),
            ("empty.blockmap", [], "empty input"),
            ("badjson.blockmap", Zlib.compress(Array("{\"version\":\"2\",\"files\":[{\"name\":\"file\"".utf8), format: .gzip), "invalid blockmap JSON"),
            ("mismatch.blockmap", Zlib.compress(Array(#"{"version":"2","files":[{"name":"file","offset":0,"checksums":[],"sizes":[1]}]}"#.utf8), format: .gzip), "0 checksums but 1 sizes"),
        ]
        for (name, bytes, message) in cases {
            let path = try dir.write(name, bytes)
            let run = try CommandRunner.run(["blockmap", "inspect", path])
            #expect(run.status == 65, "\(name)")
            #expect(run.stderr.contains(message), "\(name): \(run.stderr)")
        }
        let good = try dir.write("good.blockmap", gz)
        let wrongSize = try CommandRunner.run(["blockmap", "inspect", good, "--size", "299999"])
        #expect(wrongSize.status == 65)
        #expect(wrongSize.stderr.contains("describes 300000 bytes but the file size is 299999"))
        #expect(try CommandRunner.run(["blockmap", "inspect", good, "--size", "300000"]).status == 0)
        #expect(try CommandRunner.run(["blockmap", "inspect", dir.path("none")]).status == 66)
        let noTrailer = try dir.write("plain.bin", [0, 0, 0, 0, 0, 0, 9, 9])
        let embedded = try CommandRunner.run(["blockmap", "inspect", "--embedded", noTrailer])
        #expect(embedded.status == 65)
        #expect(embedded.stderr.contains("no embedded blockmap"))
    }

    @Test func inspectRefusesZeroLengthChunksBeforeTheLast() throws {
        let dir = try TemporaryDirectory()
        let c = #""kaGkgagus/PmJi3hHxQtI0lF""#
        func blockmap(_ sizes: [Int]) -> [UInt8] {
            let checksums = Array(repeating: c, count: sizes.count).joined(separator: ",")
            let json = #"{"version":"2","files":[{"name":"file","offset":0,"checksums":[\#(checksums)],"sizes":[\#(sizes.map(String.init).joined(separator: ","))]}]}"#
            return Zlib.compress(Array(json.utf8), format: .gzip)
        }
        let zeros = try dir.write("zeros.blockmap", blockmap(Array(repeating: 0, count: 100_000)))
        let refused = try CommandRunner.run(["blockmap", "inspect", zeros])
        #expect(refused.status == 65)
        #expect(refused.stderr.contains(#"size #0 (0, before the last chunk)"#), "\(refused.stderr)")
        let inside = try dir.write("inside.blockmap", blockmap([5, 0, 7]))
        #expect(try CommandRunner.run(["blockmap", "inspect", inside]).status == 65)
        // app-builder's trailing zero-length chunk is fine.
        let trailing = try dir.write("trailing.blockmap", blockmap([5, 0]))
        let accepted = try CommandRunner.run(["blockmap", "inspect", trailing, "--size", "5"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout.contains("app-builder"))
    }
}
