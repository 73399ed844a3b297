import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real S3 API server for publishing tests: moto (`pip install 'moto[server]'`, which
/// tools/setup installs) on 127.0.0.1 and a free port. Started by the test, killed when
/// released. If moto is missing, starting it fails with how to install it.
public final class MotoProcess: @unchecked Sendable {
    public let endpoint: URL
    private let process = Process()
    private let log: TemporaryDirectory

    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    public init() throws {
        let port = try NginxServer.freePort()
        log = try TemporaryDirectory("moto")
        FileManager.default.createFile(atPath: log.path("moto.log"), contents: nil)
        let output = try FileHandle(forWritingTo: log.url.appendingPathComponent("moto.log"))
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        endpoint = URL(string: "http://127.0.0.1:\(port)")!
        let deadline = Date().addingTimeInterval(90)
        while !Self.answers(endpoint.appendingPathComponent("moto-api/")) {
            if !process.isRunning {
                let text = (try? String(contentsOfFile: log.path("moto.log"), encoding: .utf8)) ?? ""
                throw Unavailable(description: "moto_server did not start (`python3 -m moto.server` exited \(process.terminationStatus)). Install it with: python3 -m pip install 'moto[server]' (tools/setup does this). Its output: \(text.suffix(600))")
            }
            if Date() > deadline {
                stop()
                throw Unavailable(description: "moto_server did not answer on \(endpoint) within 90 s")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Kills the server (SIGKILL: it keeps everything in memory, and a test runner may hand its
    /// children an ignored SIGTERM).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    private static func answers(_ url: URL) -> Bool {
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        nonisolated(unsafe) var status = 0
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { _, response, _ in
            status = (response as? HTTPURLResponse)?.statusCode ?? 0
            done.signal()
        }.resume()
        done.wait()
        return status == 200
    }
}
