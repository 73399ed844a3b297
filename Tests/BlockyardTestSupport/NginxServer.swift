import Foundation

/// A real nginx serving a directory on 127.0.0.1, started by a test with its own
/// configuration, prefix and free port, and stopped when the value is released.
/// Used as the CDN/origin peer: electron-updater's behaviour table is defined against it.
public final class NginxServer: @unchecked Sendable {
    public let port: Int
    public let root: String
    private let prefix: TemporaryDirectory
    private let process: Process

    /// Path of nginx's access log (format: `$request $status $bytes_sent "$http_range"`).
    public var accessLog: String { prefix.path("access.log") }

    /// - Parameters:
    ///   - root: directory to serve.
    ///   - maxRanges: nginx's `max_ranges` (nil = nginx default, unlimited).
    ///   - largeHeaderBuffer: `large_client_header_buffers` size (electron-updater's multi-range
    ///     headers exceed nginx's 8k default).
    public init(root: String, maxRanges: Int? = nil, largeHeaderBuffer: String = "64k") throws {
        self.root = root
        prefix = try TemporaryDirectory("nginx")
        port = try Self.freePort()
        let config = """
            daemon off;
            worker_processes 1;
            pid \(prefix.path("nginx.pid"));
            error_log \(prefix.path("error.log")) warn;
            events { worker_connections 256; }
            http {
                types { application/octet-stream bin; text/yaml yml; }
                default_type application/octet-stream;
                log_format blockyard '$request $status $bytes_sent "$http_range"';
                access_log \(prefix.path("access.log")) blockyard;
                client_body_temp_path \(prefix.path("tmp"));
                proxy_temp_path \(prefix.path("tmp"));
                fastcgi_temp_path \(prefix.path("tmp"));
                uwsgi_temp_path \(prefix.path("tmp"));
                scgi_temp_path \(prefix.path("tmp"));
                large_client_header_buffers 4 \(largeHeaderBuffer);
                sendfile on;
                server {
                    listen 127.0.0.1:\(port);
                    root \(root);
                    \(maxRanges.map { "max_ranges \($0);" } ?? "")
                }
            }
            """
        try FileManager.default.createDirectory(atPath: prefix.path("tmp"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: prefix.path("stderr.log"), contents: nil)
        try Data(config.utf8).write(to: URL(fileURLWithPath: prefix.path("nginx.conf")))
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["-p", prefix.url.path, "-c", prefix.path("nginx.conf")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: prefix.path("stderr.log")) ?? FileHandle.nullDevice
        try process.run()
        try Self.waitForPort(port, process: process, errorLog: prefix.path("stderr.log"))
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    static var binary: String {
        for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/sbin/nginx"
    }

    /// Lines of the access log so far.
    public func logLines() -> [String] {
        (try? String(contentsOfFile: accessLog, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw CocoaError(.featureUnsupported) }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Waits until something accepts connections on `port` (at most 10 s).
    public static func waitForPort(_ port: Int, process: Process? = nil, errorLog: String? = nil) throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let process, !process.isRunning {
                let log = errorLog.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
                throw NSError(domain: "NginxServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "server exited: \(log)"])
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = UInt16(port).bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if ok { return }
            usleep(50_000)
        }
        throw NSError(domain: "NginxServer", code: 2, userInfo: [NSLocalizedDescriptionKey: "nothing listening on 127.0.0.1:\(port) after 10 s"])
    }
}
