import BlockyardCore
import BlockyardTestSupport
import Testing

/// Every shared golden vector, regenerated from its name, in both generations, compared as
/// exact strings.
@Suite("Golden vectors (shared/vectors)")
struct GoldenVectorTests {
    static let names: [String] = (try? SharedVectors.names()) ?? []

    @Test func allVectorsPresent() {
        #expect(Self.names.count == 26, "expected the 26 shared vectors in \(SharedVectors.expectedDirectory.path)")
    }

    @Test(arguments: names)
    func vector(name: String) throws {
        let expected = try SharedVectors.expected(name)
        let input = try #require(VectorInputs.generate(name), "unknown vector name \(name)")
        #expect(input.count == expected.size)
        #expect(SHA2Hasher.hash(.sha256, input).hex == expected.sha256, "input regenerated wrongly")

        let app = input.withUnsafeBytes { BlockmapBuilder.build($0, compat: .appBuilder) }
        #expect(app.blockmap.json == expected.blockmapJSON)
        #expect(app.info.json == expected.infoJSON)
        #expect(app.sha512.base64 == expected.sha512)

        let eb = input.withUnsafeBytes { BlockmapBuilder.build($0, compat: .electronBuilder) }
        #expect(eb.blockmap.json == expected.electronBuilderJSON)
        #expect(eb.info.json == expected.infoJSON)
        if expected.trailingZeroChunk {
            #expect(eb.blockmap.files[0].sizes.count == expected.chunkCount - 1)
        } else {
            #expect(eb.blockmap.json == expected.blockmapJSON)
        }

        // The parser reads back exactly what was written.
        #expect(try Blockmap(json: Array(expected.blockmapJSON.utf8)) == app.blockmap)
    }

    @Test func electronBuilderEmptyFileHasEmptyArrays() {
        let result = [UInt8]().withUnsafeBytes { BlockmapBuilder.build($0, compat: .electronBuilder) }
        #expect(result.blockmap.json == #"{"version":"2","files":[{"name":"file","offset":0,"checksums":[],"sizes":[]}]}"#)
    }

    /// The streaming builder fed in odd pieces equals the one-shot build.
    @Test func streamingBuilderEqualsOneShot() {
        let data = VectorInputs.randomBytes(seed: 2, count: 400_000)
        let oneShot = data.withUnsafeBytes { BlockmapBuilder.build($0, compat: .appBuilder) }
        for piece in [1000, 4096, 32769, 65536] {
            var builder = BlockmapBuilder(compat: .appBuilder)
            var i = 0
            while i < data.count {
                let n = min(piece, data.count - i)
                data[i..<(i + n)].withUnsafeBytes { builder.update($0) }
                i += n
            }
            let streamed = builder.finalize()
            #expect(streamed.blockmap == oneShot.blockmap, "piece \(piece)")
            #expect(streamed.sha512 == oneShot.sha512)
        }
    }
}
