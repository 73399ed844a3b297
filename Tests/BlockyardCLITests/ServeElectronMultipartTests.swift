import BlockyardTestSupport
import Foundation
import Testing

/// The shape of update that fell back to a full download against `serve` in the field
/// (issue: several requests of ~490 parts of 50–200 KB each), read by Node's own HTTP client
/// and a port of electron-updater's multipart reader (`tools/electron-multipart-check.js`)
/// that falls behind the server, as the real client does while it hashes and writes.
@Suite("serve: electron-updater's multipart reader under Node")
struct ServeElectronMultipartTests {
    static var node: String? {
        ["/usr/bin/node", "/usr/local/bin/node"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.enabled(if: Self.node != nil, "node is not installed (tools/electron-multipart-check.js needs it)"))
    func nodeReaderCompletesEveryRun() throws {
        let node = try #require(Self.node)
        let dir = try TemporaryDirectory("serve-node-multipart")
        let file = try dir.write("big.bin", VectorInputs.randomBytes(seed: 1515, count: 96 << 20))
        let serve = try ListeningProcess(["serve"], ["--root", dir.url.path])
        let script = SharedVectors.repositoryRoot.appendingPathComponent("tools/electron-multipart-check.js").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: node)
        process.arguments = [script, "--url", "http://127.0.0.1:\(serve.port)/big.bin", "--file", file,
                             "--runs", "3", "--requests", "4", "--parts", "490", "--seed", "15", "--json"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
        #expect(report["differential"] as? Int == 3, "\(report)")
        #expect(report["fallbacks"] as? Int == 0, "\(report)")
        #expect((report["parts"] as? Int ?? 0) > 3 * 4 * 400)
        #expect(process.terminationStatus == 0)
        #expect(serve.stop() == 0)
    }
}
