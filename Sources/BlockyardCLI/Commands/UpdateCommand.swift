import ArgumentParser
import BlockyardCore
import BlockyardHTTP
import BlockyardRelease
import Foundation

/// `blockyard update --feed URL --installed FILE --out FILE`.
struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Update a file from an electron-builder feed with the fewest bytes.",
        discussion: """
            Reads the channel file <channel><suffix>.yml from the feed (electron-
            updater's generic provider rules: suffix "" on win, "-mac" on mac,
            "-linux" or "-linux-<arch>" on Linux), picks the artifact, fetches its
            blockmap (or the embedded one, with one range request), chunks the
            installed file locally, plans, and downloads only the missing ranges:
            multipart where the server allows it, else one range per request, a
            few connections in parallel, retried with backoff. A server that
            ignores Range is read as a plain download, stopped once every needed
            byte is in. Each downloaded chunk is checked against the blockmap.

            The new file is built in a temporary file beside --out, its SHA-512 is
            computed from the disk and compared with the channel file's, then it is
            renamed over --out. Nothing partial is ever at --out, and the installed
            file is only read. Downloaded ranges are kept in .NAME.blockyard-partial
            beside --out after a network failure (connection errors, timeouts, 5xx
            after every retry): running the same command again resumes. Any other
            failure leaves nothing behind. If the served bytes do not match the
            blockmap, or the result not the SHA-512, the whole file is downloaded
            instead.

            When the channel file names a delivery index and pack for the artifact
            (blockyardIndex, blockyardPack, blockyardRoot; written by `blockyard
            release create`), those are used first: the installed file is cut and
            hashed into the same Merkle tree, the index is read from the channel
            file's root down, one batched range request per level, only into
            subtrees the installed file lacks, and the missing chunks come from the
            pack, compressed, each checked against its SHA-256. An empty installed
            file downloads the whole pack in one request. Any failure of those
            files (missing, corrupt, a wrong root, a server ignoring Range) prints
            a warning and falls back to the blockmap; --no-delivery skips them.

            Redirects are followed (up to 10). After a redirect to another scheme,
            host or port, Authorization, Proxy-Authorization, Cookie, Private-Token
            and every --secret-header are no longer sent. A refused connection
            is retried with backoff (0.25 s doubling, about 8 s in all with the
            default --retries 5).

            --staging-id is sent as x-user-staging-id with the channel file request;
            a staged release (stagingPercentage) is offered to ids inside the
            rollout as electron-updater computes it. With --public-key (a PEM file
            or the base64 key) the channel file must be signed (<channel file>.sig)
            and pass the rollback check against --state. See docs/HTTP-CLIENT.md.

            Exit codes: 0 updated or nothing to do; 1 a check failed (SHA-512,
            signature, rollback); 64 usage; 65 bad metadata or blockmap (a size
            no file can have, a size the blockmap does not add up to, a channel
            file or signature over 16 MiB / 64 KiB); 66 the installed file,
            channel file or artifact is missing; 73 the output cannot be created;
            74 network or I/O error after every retry.

            EXAMPLES
              blockyard update --feed https://updates.example.com/myapp/ \\
                  --installed /opt/MyApp/MyApp.AppImage \\
                  --out /opt/MyApp/MyApp.AppImage
              blockyard update --feed http://127.0.0.1:8080/ --channel beta \\
                  --platform win --installed old.exe --out new.exe --json
              blockyard update --feed https://cdn.example.com/models/ \\
                  --file model-7b.bin --installed model.bin --out model.bin \\
                  --public-key release.key.pub --state seen.json
            """)

    @Option(help: ArgumentHelp("The feed URL (where the channel files are).", valueName: "URL"))
    var feed: String

    @Option(help: ArgumentHelp("The installed file (only read).", valueName: "OLD"))
    var installed: String

    @Option(help: ArgumentHelp("Where the new file goes (may be --installed).", valueName: "NEW"))
    var out: String

    @Option(help: "Channel: latest, beta, alpha, …")
    var channel = "latest"

    @Option(help: ArgumentHelp("win, mac, linux (default: this machine's).", valueName: "OS"))
    var platform: String?

    @Option(help: ArgumentHelp("x64, arm64, ia32, armv7l (default: this machine's).", valueName: "ARCH"))
    var arch: String?

    @Option(help: ArgumentHelp("The artifact to download, by file name (default: chosen like electron-updater).", valueName: "NAME"))
    var file: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("An extra request header (repeatable).", valueName: "'NAME: VALUE'"))
    var headers: [String] = []

    @Option(name: .customLong("secret-header"),
            help: ArgumentHelp("A header carrying a credential (repeatable): like --header, but not sent after a redirect to another scheme, host or port.",
                               valueName: "'NAME: VALUE'"))
    var secretHeaders: [String] = []

    @Option(help: ArgumentHelp("Staging id (a UUID), sent as x-user-staging-id.", valueName: "ID"))
    var stagingID: String?

    @Option(help: ArgumentHelp("The installed file's version, sent as X-Blockyard-Installed-Version (for the server's analytics).", valueName: "VERSION"))
    var installedVersion: String?

    @Option(help: ArgumentHelp("Require channel files signed by this Ed25519 key.", valueName: "KEY"))
    var publicKey: String?

    @Option(help: ArgumentHelp("Rollback-protection state file (with --public-key).", valueName: "FILE"))
    var state: String?

    @Option(help: "Parallel connections.")
    var connections = 4

    @Option(help: "Retries of a failed request (with exponential backoff).")
    var retries = 5

    @Option(help: ArgumentHelp("Seconds without data (or to connect, at most 10) before an attempt fails.", valueName: "SECONDS"))
    var timeout = 30.0

    @Option(help: "Ranges per multi-range request.")
    var maxRangesPerRequest = 500

    @Flag(help: "Ask for one range per request (no multipart).")
    var noMultipart = false

    @Flag(help: "Download the whole file (skip the blockmap and the delivery files).")
    var full = false

    @Flag(help: "Ignore the delivery index and pack the channel file names: use the blockmap.")
    var noDelivery = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let installedVersion, installedVersion.isEmpty || installedVersion.utf8.count > 256
            || !installedVersion.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw ValidationError("--installed-version: expected a version such as 1.2.3 (printable ASCII, no spaces)")
        }
        if let platform, ReleaseOS(name: platform) == nil {
            throw ValidationError("--platform \(platform): expected win, mac or linux")
        }
        if let arch, ReleaseArch(name: arch) == nil {
            throw ValidationError("--arch \(arch): expected x64, arm64, ia32, armv7l or universal")
        }
        for header in headers where Self.parseHeader(header) == nil {
            throw ValidationError("--header '\(header)': expected 'Name: value'")
        }
        // The value is a secret: not repeated in the message.
        for header in secretHeaders where Self.parseHeader(header) == nil {
            throw ValidationError("--secret-header: expected 'Name: value'")
        }
        if connections < 1 || connections > 64 { throw ValidationError("--connections must be 1…64") }
        if retries < 0 { throw ValidationError("--retries must be >= 0") }
        if !(timeout > 0) { throw ValidationError("--timeout must be > 0") }
        if maxRangesPerRequest < 1 { throw ValidationError("--max-ranges-per-request must be >= 1") }
        if state != nil && publicKey == nil { throw ValidationError("--state needs --public-key") }
        do {
            try ReleaseChannel.validate(channel)
        } catch {
            throw ValidationError(error.message)
        }
    }

    static func parseHeader(_ text: String) -> (String, String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(" ") else { return nil }
        return (name, value)
    }

    func run() throws {
        var options = UpdateOptions(feed: feed, installed: installed, out: out)
        options.channel = channel
        var target = UpdateFileChoice.hostTarget
        if let platform, let os = ReleaseOS(name: platform) {
            target.os = os
            if arch == nil && os != UpdateFileChoice.hostTarget.os { target.arch = .x64 }
        }
        if let arch { target.arch = ReleaseArch(name: arch) }
        options.target = target
        options.file = file
        options.headers = (headers + secretHeaders).compactMap(Self.parseHeader)
        options.secretHeaders = secretHeaders.compactMap(Self.parseHeader).map { $0.0 }
        options.stagingID = stagingID
        options.installedVersion = installedVersion
        if let publicKey {
            options.publicKey = try ReleaseConsole.run { () throws(ReleaseError) in try MetadataPublicKey(fileOrBase64: publicKey) }
        }
        options.statePath = state
        options.full = full
        options.delivery = !noDelivery
        options.retry = RetryPolicy(retries: retries)
        options.readTimeout = timeout
        options.connectTimeout = min(10, timeout)
        options.download = RangeDownloadOptions(connections: connections, maxRangesPerRequest: maxRangesPerRequest,
                                                multipart: !noMultipart)
        let observer = ConsoleUpdateObserver(label: URL(fileURLWithPath: out).lastPathComponent)
        let client = UpdateClient(options: options, observer: observer)
        let report: UpdateReport
        do {
            report = try blockOn { () async throws(UpdateError) in try await client.run() }
        } catch {
            observer.end()
            throw Self.fail(error)
        }
        if json {
            Console.out(Console.json(report))
            return
        }
        switch report.status {
        case "not-offered":
            Console.out("\(report.version) is staged to a part of the users; staging id \(stagingID ?? "?") is not in the rollout: nothing to do")
            return
        case "up-to-date":
            Console.out("\(out): already version \(report.version) (SHA-512 matches): nothing to do")
            return
        default:
            break
        }
        Console.out("\(out): version \(report.version), \(report.size) bytes, SHA-512 verified on disk")
        let t = report.seconds
        if let d = report.delivery {
            Console.out("  method    delivery index + pack\(d.firstInstall ? " (first install: the whole pack)" : "")")
            Console.out("  index     \(d.indexBytes) bytes (\(HumanSize.format(d.indexBytes))) in \(d.indexRounds) round\(d.indexRounds == 1 ? "" : "s"), \(d.indexRanges) range\(d.indexRanges == 1 ? "" : "s")")
            Console.out("  pack      \(d.packBytes) bytes (\(HumanSize.format(d.packBytes))) in \(d.packRanges) range\(d.packRanges == 1 ? "" : "s"), \(d.unpackedChunks) chunk\(d.unpackedChunks == 1 ? "" : "s") decoded to \(d.unpackedBytes) bytes, each SHA-256 checked")
        }
        if report.method == "full" {
            Console.out("  method    whole file\(report.fallback.map { " (delta given up: \($0))" } ?? "")")
        }
        let reusedPercent = report.size > 0 ? Double(report.reusedBytes) / Double(report.size) * 100 : 100
        Console.out("  fetched   \(report.bytesFetched) bytes (\(HumanSize.format(report.bytesFetched))) in \(report.requests) request\(report.requests == 1 ? "" : "s"), \(report.ranges) range\(report.ranges == 1 ? "" : "s")\(report.download.map { $0.transport == "none" ? "" : ", \($0.transport)" } ?? "")")
        if let d = report.download, d.resumedBytes > 0 {
            Console.out("  resumed   \(d.resumedBytes) bytes already downloaded by an earlier attempt")
        }
        Console.out(String(format: "  reused    %d bytes (%.2f %%) from the installed file", report.reusedBytes, reusedPercent))
        Console.out(String(format: "  time      %.2f s: metadata %.2f, chunking %.2f, planning %.2f, download %.2f, build %.2f",
                           t.total, t.metadata, t.chunking, t.planning, t.download, t.build))
    }

    static func fail(_ error: UpdateError) -> ExitCode {
        Console.error(error.message)
        return ExitStatus.code(for: error.kind)
    }
}

/// Progress bars on stderr (only when it is a terminal), one per phase.
final class ConsoleUpdateObserver: UpdateObserver, @unchecked Sendable {
    private let label: String
    private let lock = NSLock()
    private var bar: ProgressBar?

    init(label: String) { self.label = label }

    func begin(_ phase: String, total: Int) {
        let next = ProgressBar(label: "\(phase) \(label)", total: total, minimumTotal: 16 << 20)
        lock.lock()
        bar?.finish()
        bar = next
        lock.unlock()
    }

    func advance(_ bytes: Int) {
        lock.lock()
        let current = bar
        lock.unlock()
        current?.advance(by: bytes)
    }

    func end() {
        lock.lock()
        bar?.finish()
        bar = nil
        lock.unlock()
    }

    func warning(_ message: String) {
        lock.lock()
        bar?.finish()
        lock.unlock()
        Console.warning(message)
    }
}

/// Runs async work from a synchronous command (the root command is synchronous) and waits.
func blockOn<T: Sendable, E: Error>(_ body: @escaping @Sendable () async throws(E) -> T) throws(E) -> T {
    let box = ResultBox<T, E>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do throws(E) {
            box.result = .success(try await body())
        } catch {
            box.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// Carries a result from the task to the waiting thread (the semaphore orders the accesses).
private final class ResultBox<T, E: Error>: @unchecked Sendable {
    var result: Result<T, E>?
}

/// `blockyard apply PLAN --source URL`: the plan's fetch ranges come from the new file on an
/// HTTP server, downloaded like `update` downloads them (parallel, multipart or single
/// ranges, checked, resumable) before the file is built.
enum HTTPApplySource {
    /// The source as an http(s) URL, or nil for a local file.
    static func url(_ source: String) -> URL? {
        let lower = source.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return nil }
        return URL(string: source)
    }

    static func apply(plan: DeltaPlan, url: URL, expectedSHA512: [UInt8], out: String, seedPaths: [Int: String],
                      size: Int?, verifyChunks: Bool) throws(UpdateError) -> PlanDownloadReport {
        let observer = ConsoleUpdateObserver(label: URL(fileURLWithPath: out).lastPathComponent)
        return try blockOn { () async throws(UpdateError) in
            let session = HTTPSession()
            do throws(UpdateError) {
                let report = try await PlanDownload.run(
                    plan: plan, url: url, resourceSize: nil, expectedSHA512: expectedSHA512, out: out,
                    seedPaths: seedPaths, expectedSize: size, verifyChunks: verifyChunks, session: session,
                    options: RangeDownloadOptions(maxRangesPerRequest: plan.costModel.maxRangesPerRequest),
                    observer: observer)
                await session.shutdown()
                return report
            } catch {
                await session.shutdown()
                throw error
            }
        }
    }
}
