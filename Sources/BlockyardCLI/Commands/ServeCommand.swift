import ArgumentParser
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import Foundation

/// `blockyard serve --root DIR [--store PATH] [--host H] [--port N]`.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a release directory over HTTP for electron-updater and blockyard update.",
        discussion: """
            Serves DIR (the layout `blockyard release create` writes) so that every
            electron-updater client updates differentially: one range gets 206 with
            Content-Range, several get multipart/byteranges exactly like nginx (one
            part per range, in request order), up to 2000 ranges and 128 KiB of
            request headers; .blockmap files are gzip bytes without
            Content-Encoding; strong ETags from the content hash; artifacts and
            blockmaps are cached as immutable, channel files (*.yml) as no-cache.

            With --store, artifacts listed in releases/V/release.json but absent
            from DIR are served from the chunk store (matched by SHA-256/512),
            reading only the chunks a range overlaps; missing blockmaps are
            rebuilt from the stored chunk lists.

            With --staged-rollout, a channel file with stagingPercentage is
            answered per user (x-user-staging-id, electron-updater's rule): users
            outside the percentage get the previous release's channel file.

            GET / is a download page (latest version, notes, per-platform files
            with sizes and SHA-256); /api/releases, /api/releases/latest and
            /api/releases/tags/TAG answer like GitHub's releases API (described by
            GET /openapi.json, docs/openapi/releases.json). GET /metrics
            gives Prometheus metrics. Stop with Ctrl-C (SIGINT) or SIGTERM. See
            docs/HTTP-SERVER.md.

            UPDATE ANALYTICS
              With --analytics DIR, the requests of each update (channel file,
              new and old blockmap, ranges, a full download after a failed
              delta) are counted per version and day in an LMDB store in DIR:
              full downloads, differential updates from -> to, fallbacks,
              bytes served and saved. No address, User-Agent or staging id is
              stored. GET /analytics is a dashboard, GET /api/analytics
              (?since=YYYY-MM-DD&until=YYYY-MM-DD) the JSON; off loopback
              they need --analytics-token-file (Authorization: Bearer TOKEN
              or ?token=TOKEN).

            SLOW AND MANY CLIENTS
              A body is read from disk only as fast as its client takes it (a
              slow client holds one 64 KiB block). --idle-timeout closes
              connections that send no complete request head in time (also
              trickling ones), --send-timeout those whose client stopped reading,
              and beyond --max-connections new connections get 503 and are closed.

            EXAMPLES
              blockyard serve --root site
              blockyard serve --root site --host 0.0.0.0 --port 8080
              blockyard serve --root site --store .blockyard/store \\
                  --staged-rollout --port 0
              blockyard serve --root site --analytics /var/lib/blockyard/analytics \\
                  --host 0.0.0.0 --analytics-token-file /etc/blockyard/token
            """)

    @Option(help: ArgumentHelp("The release directory to serve.", valueName: "DIR"))
    var root: String

    @Option(help: ArgumentHelp("A chunk store to serve artifacts from.", valueName: "PATH"))
    var store: String?

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port, printed at start).")
    var port = 8080

    @Flag(help: "Serve the previous release to users outside stagingPercentage.")
    var stagedRollout = false

    @Option(help: "Product name on the download page (default: guessed).")
    var productName: String?

    @Option(help: ArgumentHelp("Public URL of the server, for API links.", valueName: "URL"))
    var baseURL: String?

    @Option(help: ArgumentHelp("Largest request header block.", valueName: "KiB"))
    var maxHeaderKib = 128

    @Option(help: "Most ranges in one request.")
    var maxRanges = 2000

    @Option(help: ArgumentHelp("Close a connection idle (or still sending its request head) this long.", valueName: "SECONDS"))
    var idleTimeout = 75

    @Option(help: ArgumentHelp("Close a connection whose client stopped reading for this long.", valueName: "SECONDS"))
    var sendTimeout = 60

    @Option(help: "Most connections open at once (more get 503).")
    var maxConnections = 4096

    @Option(help: ArgumentHelp("Count update events in an LMDB store in DIR (off by default).", valueName: "DIR"))
    var analytics: String?

    @Option(help: ArgumentHelp("A file whose first line is the token /analytics needs (required off loopback).", valueName: "FILE"))
    var analyticsTokenFile: String?

    @Option(help: ArgumentHelp("Days of analytics kept (0: all).", valueName: "DAYS"))
    var analyticsRetentionDays = 400

    @Flag(help: "Print the listening address as one line of JSON.")
    var json = false

    func validate() throws {
        guard maxHeaderKib >= 16 && maxHeaderKib <= 1024 else { throw ValidationError("--max-header-kib must be between 16 and 1024") }
        guard maxRanges >= 1 && maxRanges <= 100_000 else { throw ValidationError("--max-ranges must be between 1 and 100000") }
        guard idleTimeout >= 1 && idleTimeout <= 86_400 else { throw ValidationError("--idle-timeout must be between 1 and 86400 seconds") }
        guard sendTimeout >= 1 && sendTimeout <= 86_400 else { throw ValidationError("--send-timeout must be between 1 and 86400 seconds") }
        guard maxConnections >= 1 && maxConnections <= 1_000_000 else { throw ValidationError("--max-connections must be between 1 and 1000000") }
        guard analyticsRetentionDays >= 0 && analyticsRetentionDays <= 36_600 else {
            throw ValidationError("--analytics-retention-days must be between 0 and 36600")
        }
        if analytics == nil && analyticsTokenFile != nil { throw ValidationError("--analytics-token-file needs --analytics DIR") }
        if let baseURL, !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            throw ValidationError("--base-url must start with http:// or https://")
        }
    }

    struct Listening: Encodable {
        var url: String
        var host: String
        var port: Int
        var root: String
        var store: String?
        var versions: [String]
        var stagedRollout: Bool
        var analytics: String?
    }

    func run() throws {
        var configuration = ServeConfiguration(root: root, storePath: store, host: host, port: port,
                                               stagedRollout: stagedRollout, productName: productName,
                                               publicBaseURL: baseURL, maxHeaderBytes: maxHeaderKib * 1024,
                                               idleTimeoutSeconds: idleTimeout, sendTimeoutSeconds: sendTimeout,
                                               maxConnections: maxConnections)
        configuration.rangeLimits.maxRanges = maxRanges
        if let analytics {
            do {
                var token: String?
                if let file = analyticsTokenFile { token = try AnalyticsConfiguration.readToken(file: file) }
                configuration.analytics = AnalyticsConfiguration(directory: analytics, token: token,
                                                                 retentionDays: analyticsRetentionDays)
            } catch {
                Console.error(error.message)
                throw Self.exitCode(error)
            }
        }
        // Every connection is a descriptor: make room for the limit (and files being served).
        let descriptors = DescriptorLimit.raise(toAtLeast: maxConnections * 2 + 64)
        if descriptors < maxConnections + 64 {
            Console.warning("only \(descriptors) file descriptors are allowed (ulimit -n): fewer than --max-connections \(maxConnections) connections can be served at once")
        }
        let server: ReleaseServer
        do {
            server = try ReleaseServer(configuration: configuration)
        } catch {
            Console.error(error.message)
            throw Self.exitCode(error)
        }
        for problem in server.problems { Console.warning(problem) }
        if stagedRollout {
            for name in server.stagedSignedChannelFilesWithoutFallback {
                Console.warning("\(name) is signed and staged but has no signed \(StagedFallback.fileName(forChannelFile: name)): it is served as it is to every user (`release create`/`promote`/`stage --sign` write that fallback)")
            }
        }
        let json = self.json
        let root = self.root
        let store = self.store
        let staged = stagedRollout
        let analyticsDirectory = analytics
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: Error?
        Task.detached {
            do {
                try await server.run(handleSignals: true) { host, port in
                    let display = host.contains(":") ? "[\(host)]" : host
                    let url = "http://\(display):\(port)/"
                    if json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                        let value = Listening(url: url, host: host, port: port, root: root, store: store,
                                              versions: server.versions, stagedRollout: staged, analytics: analyticsDirectory)
                        Console.out(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
                    } else {
                        var line = "serving \(root) at \(url)"
                        if let count = server.storeMemberCount { line += " (store: \(count) files)" }
                        Console.out(line)
                    }
                }
            } catch {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure {
            if let error = failure as? ServeError {
                Console.error(error.message)
                throw Self.exitCode(error)
            }
            Console.error("\(failure)")
            throw ExitStatus.ioError
        }
    }

    static func exitCode(_ error: ServeError) -> ExitCode {
        switch error.kind {
        case .usage: return ExitStatus.usage
        case .missingInput: return ExitStatus.noInput
        case .invalidData: return ExitStatus.dataError
        case .io: return ExitStatus.ioError
        }
    }
}
