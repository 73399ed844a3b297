import ArgumentParser
import BlockyardRelease
import Foundation

/// `blockyard publish DIR s3://bucket/prefix [--endpoint URL] [--region R] …`.
struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Upload a release directory to S3 (or any S3-compatible store), channel files last.",
        discussion: """
            Uploads artifacts and blockmaps first (Cache-Control immutable), then
            release.json and SHA256SUMS, then each channel file's .sig and the
            channel file (Cache-Control no-cache), so clients never see metadata that
            points at missing files. Objects already there with the same SHA-256
            (x-amz-meta-sha256) are skipped, so an interrupted publish is resumed by
            running it again. An artifact that exists with other content stops the
            run before anything is uploaded (--force replaces it). Files larger than
            --part-size go up as multipart uploads with --jobs parallel parts.

            CREDENTIALS
              AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or
              a profile of ~/.aws/credentials (--profile, AWS_PROFILE, default).
              They are never printed.

            EXAMPLES
              blockyard publish site s3://my-updates/myapp --region eu-west-1
              blockyard publish site s3://my-updates/myapp --dry-run
              blockyard publish site s3://releases --endpoint http://127.0.0.1:9000 \\
                  --part-size 16MiB --jobs 8
            """)

    @Argument(help: ArgumentHelp("The release directory.", valueName: "DIR"))
    var directory: String

    @Argument(help: ArgumentHelp("Destination bucket and key prefix.", valueName: "s3://BUCKET/PREFIX"))
    var destination: String

    @Option(help: ArgumentHelp("S3 endpoint URL (default: AWS for --region).", valueName: "URL"))
    var endpoint: String?

    @Option(help: "Region for signing (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1).")
    var region: String?

    @Option(help: "Profile of ~/.aws/credentials.")
    var profile: String?

    @Option(help: "Bucket addressing.")
    var addressing: S3Addressing = .auto

    @Option(help: ArgumentHelp("Multipart part size (5MiB-5GiB).", valueName: "SIZE"))
    var partSize = "64MiB"

    @Option(help: "Parts uploaded in parallel.")
    var jobs = 4

    @Flag(help: "Show what would be uploaded and skipped; change nothing.")
    var dryRun = false

    @Flag(help: "Replace artifacts that exist in the bucket with different content.")
    var force = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard let size = ByteSize.parse(partSize) else {
            throw ValidationError("--part-size: '\(partSize)' is not a size like 64MiB, 8M or 67108864")
        }
        guard (PublishOptions.minimumPartSize...PublishOptions.maximumPartSize).contains(size) else {
            throw ValidationError("--part-size must be between 5MiB and 5GiB (S3's limits)")
        }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 64") }
        if let endpoint {
            guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()), url.host != nil else {
                throw ValidationError("--endpoint: '\(endpoint)' is not an http(s) URL")
            }
        }
    }

    func run() throws {
        let location = try ReleaseConsole.run { () throws(ReleaseError) in try S3Location(uri: destination) }
        let environment = ProcessInfo.processInfo.environment
        let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let credentials = try ReleaseConsole.run { () throws(ReleaseError) in try AWSCredentials.load(environment: environment, profile: profile) }
        let client = S3Client(endpoint: endpoint.flatMap(URL.init(string:)), region: region, credentials: credentials,
                              addressing: addressing, transport: URLSessionTransport(connections: jobs + 2))
        let options = PublishOptions(directory: directory, destination: location, partSize: ByteSize.parse(partSize)!,
                                     jobs: jobs, dryRun: dryRun, force: force)
        let publisher = Publisher(client: client, options: options)
        let bar = ProgressBar(label: "publish", total: FileSize.directoryTotal(directory))
        if dryRun && !json { Console.out("dry run: nothing is uploaded") }
        let report = try ReleaseConsole.run { () throws(ReleaseError) in
            try publisher.run(onItem: { item in
                guard !json else { return }
                bar.finish()
                var line = item.action.rawValue.padding(8) + item.key + "  " + HumanSize.format(item.size)
                if let parts = item.parts { line += "  \(parts) parts" }
                Console.out(line)
            }, progress: bar.advance(by:))
        }
        bar.finish()
        ReleaseConsole.warnings(report.warnings)
        ReleaseConsole.rangeHeaderHint(RangeHeaderCheck.findings(root: directory))
        if json {
            Console.out(Console.json(report))
            return
        }
        let verb = dryRun ? "would upload" : "uploaded"
        var summary = "\(verb) \(report.uploadedObjects) object\(report.uploadedObjects == 1 ? "" : "s") (\(HumanSize.format(report.uploadedBytes))), skipped \(report.skippedObjects) already in \(location)"
        if report.abortedStaleUploads > 0 { summary += "; aborted \(report.abortedStaleUploads) incomplete upload\(report.abortedStaleUploads == 1 ? "" : "s") left by an earlier run" }
        Console.out(summary)
    }
}

extension S3Addressing: ExpressibleByArgument {}

/// Sizes like `64MiB`, `8M`, `1GiB`, `512KiB` or plain bytes (binary units).
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard let value = Int(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).lowercased()
        let shift: Int
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        default: return nil
        }
        guard value <= Int.max >> shift else { return nil }
        return value << shift
    }
}

extension FileSize {
    /// Total size of the regular files under `directory` (for the progress bar).
    static func directoryTotal(_ directory: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        while let next = walker.nextObject() as? String {
            total += of((directory as NSString).appendingPathComponent(next)) ?? 0
        }
        return total
    }
}
