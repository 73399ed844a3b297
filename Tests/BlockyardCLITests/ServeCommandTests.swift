import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `blockyard serve` as a user runs it: the real binary on 127.0.0.1, stopped with SIGTERM.
@Suite("serve command")
struct ServeCommandTests {
    /// A running `blockyard serve --port 0 --json ARGUMENTS…`.
    static func serve(_ arguments: [String]) throws -> ListeningProcess {
        try ListeningProcess(["serve"], arguments)
    }

    static func get(_ url: String, headers: [String: String] = [:]) throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        var request = URLRequest(url: URL(string: url)!)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        nonisolated(unsafe) var result: (Int, [String: String], [UInt8])?
        nonisolated(unsafe) var failure: Error?
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse {
                var fields: [String: String] = [:]
                for (key, value) in http.allHeaderFields { fields[String(describing: key).lowercased()] = String(describing: value) }
                result = (http.statusCode, fields, Array(data ?? Data()))
            }
            failure = error
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        return try #require(result)
    }

    /// A release directory made with `blockyard release create`.
    static func release(_ dir: TemporaryDirectory) throws -> (root: String, artifact: [UInt8]) {
        let artifact = VectorInputs.randomBytes(seed: 42, count: 300_000)
        let input = try dir.write("MyApp-Setup-2.0.0.exe", artifact)
        let root = dir.path("site")
        let created = try CommandRunner.run(["release", "create", "--version", "2.0.0", "--out", root, input])
        try #require(created.status == 0, "\(created.stderr)")
        return (root, artifact)
    }

    @Test func servesUntilSIGTERM() throws {
        let dir = try TemporaryDirectory()
        let (root, artifact) = try Self.release(dir)
        let serve = try Self.serve(["--root", root])
        #expect(serve.listening["url"] as? String == "http://127.0.0.1:\(serve.port)/")
        #expect(serve.listening["versions"] as? [String] == ["2.0.0"])
        let base = "http://127.0.0.1:\(serve.port)"
        let channel = try Self.get(base + "/latest.yml?noCache=abc")
        #expect(channel.status == 200)
        #expect(String(decoding: channel.body, as: UTF8.self).contains("version: 2.0.0"))
        #expect(channel.headers["cache-control"] == "no-cache")
        let range = try Self.get(base + "/releases/2.0.0/MyApp-Setup-2.0.0.exe", headers: ["Range": "bytes=1000-1999"])
        #expect(range.status == 206)
        #expect(range.body == Array(artifact[1000..<2000]))
        #expect(range.headers["content-range"] == "bytes 1000-1999/300000")
        let metrics = try Self.get(base + "/metrics")
        #expect(String(decoding: metrics.body, as: UTF8.self).contains("blockyard_http_requests_total"))
        #expect(serve.stop() == 0)
    }

    @Test func servesArtifactsFromAStore() throws {
        let dir = try TemporaryDirectory()
        let (root, artifact) = try Self.release(dir)
        let store = dir.path("store")
        #expect(try CommandRunner.run(["store", "init", "--path", store]).status == 0)
        let added = try CommandRunner.run(["store", "add", dir.path("MyApp-Setup-2.0.0.exe"), "--name", "setup",
                                           "--version", "2.0.0", "--no-unpack", "--path", store])
        try #require(added.status == 0, "\(added.stderr)")
        try FileManager.default.removeItem(atPath: root + "/releases/2.0.0/MyApp-Setup-2.0.0.exe")
        try FileManager.default.removeItem(atPath: root + "/releases/2.0.0/MyApp-Setup-2.0.0.exe.blockmap")
        let serve = try Self.serve(["--root", root, "--store", store])
        let base = "http://127.0.0.1:\(serve.port)"
        let full = try Self.get(base + "/releases/2.0.0/MyApp-Setup-2.0.0.exe")
        #expect(full.status == 200)
        #expect(full.body == artifact)
        let blockmap = try Self.get(base + "/releases/2.0.0/MyApp-Setup-2.0.0.exe.blockmap")
        #expect(blockmap.status == 200)
        #expect(Array(blockmap.body.prefix(2)) == [0x1F, 0x8B])
        #expect(serve.stop() == 0)
    }

    @Test func startupErrors() throws {
        let dir = try TemporaryDirectory()
        let missing = try CommandRunner.run(["serve", "--root", dir.path("nope"), "--port", "0"])
        #expect(missing.status == 66)
        #expect(missing.stderr.hasPrefix("blockyard: "))
        #expect(missing.stderr.contains("nope"))

        let badStore = try CommandRunner.run(["serve", "--root", dir.url.path, "--store", dir.path("nostore"), "--port", "0"])
        #expect(badStore.status == 66)
        #expect(badStore.stderr.contains("no store"))

        let usage = try CommandRunner.run(["serve", "--root", dir.url.path, "--max-header-kib", "4"])
        #expect(usage.status == 64)

        // The port is taken.
        let first = try Self.serve(["--root", dir.url.path])
        let taken = try CommandRunner.run(["serve", "--root", dir.url.path, "--port", String(first.port)])
        #expect(taken.status == 74)
        #expect(taken.stderr.contains("cannot listen on 127.0.0.1:\(first.port)"))
        #expect(first.stop() == 0)
    }

    @Test func help() throws {
        let help = try CommandRunner.run(["serve", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("EXAMPLES"))
        #expect(help.stdout.split(separator: "\n").filter { !$0.hasPrefix("USAGE:") }.allSatisfy { $0.count < 80 })
    }
}
