import ArgumentParser
import BlockyardCore
import BlockyardIO

/// `blockyard hash`: SHA-512 and SHA-256 of files in one read each.
struct HashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Compute SHA-512 and SHA-256 of files in one read, or verify a checksum file.",
        discussion: """
            Both digests are computed concurrently over one read of each file, so hashing costs
            about as much as SHA-512 alone. Use - to read standard input.

            FORMATS
              table      name, size, SHA-256 (hex), SHA-512 (base64)   [default]
              json       the same as a JSON array (also --json)
              sha256sum  lines "HEX  NAME", accepted by `sha256sum -c`
              sha512sum  lines "HEX  NAME", accepted by `sha512sum -c`
              electron   {"size":N,"sha512":"BASE64"} per file, as electron-builder prints it

            EXAMPLES
              blockyard hash MyApp-1.2.0.AppImage
              blockyard hash --format sha256sum releases/1.2.0/* > SHA256SUMS
              blockyard hash --check SHA256SUMS

            A file that cannot be read is reported on stderr with the reason; the other files are
            still hashed and the exit code is 1.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, sha256sum, sha512sum, electron
    }

    @Argument(help: "Files to hash (- for standard input).")
    var files: [String] = []

    @Option(help: "Output format: \(Format.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: Format = .table

    @Flag(help: "Same as --format json.")
    var json = false

    @Option(name: .customLong("check"), help: ArgumentHelp("Verify the files listed in a sha256sum/sha512sum file.", valueName: "SUMSFILE"))
    var checkFile: String?

    @Flag(help: "With --check: don't print OK lines.")
    var quiet = false

    func validate() throws {
        if checkFile == nil && files.isEmpty {
            throw ValidationError("give at least one FILE (or - for standard input), or --check SUMSFILE")
        }
        if checkFile != nil && !files.isEmpty {
            throw ValidationError("--check takes the file list from SUMSFILE; don't also give FILE arguments")
        }
    }

    func run() throws {
        if let checkFile {
            try ChecksumFileVerifier(sumsPath: checkFile, quiet: quiet).run()
            return
        }
        let format = json ? .json : self.format
        var results: [HashReport] = []
        var failed = false
        for path in files {
            do {
                let bar = ProgressBar(label: path, total: FileSize.of(path) ?? 0)
                let digests = try FileHasher.hash(path: path, progress: bar.advance(by:))
                bar.finish()
                results.append(HashReport(path: path, digests: digests))
            } catch {
                Console.error(error.description)
                failed = true
            }
        }
        print(format: format, results)
        if failed { throw ExitStatus.checkFailed }
    }

    private func print(format: Format, _ results: [HashReport]) {
        switch format {
        case .table:
            guard !results.isEmpty else { return }
            let nameWidth = max(4, results.map { $0.path.count }.max() ?? 0)
            let sizeWidth = max(4, results.map { String($0.size).count }.max() ?? 0)
            Console.out("NAME".padding(nameWidth) + "  " + "SIZE".padding(sizeWidth) + "  "
                        + "SHA256".padding(64) + "  SHA512 (base64)")
            for r in results {
                Console.out(r.path.padding(nameWidth) + "  " + String(r.size).padding(sizeWidth) + "  "
                            + r.sha256 + "  " + r.sha512)
            }
        case .json:
            Console.out(Console.json(results))
        case .sha256sum:
            for r in results { Console.out(ChecksumLine.format(hex: r.sha256, name: r.path)) }
        case .sha512sum:
            for r in results { Console.out(ChecksumLine.format(hex: r.sha512Hex, name: r.path)) }
        case .electron:
            let lines = results.map { BlockmapInfo(size: $0.size, sha512: $0.sha512).json }
            if !lines.isEmpty { Console.out(lines.joined(separator: "\n"), terminator: "") }
        }
    }
}

/// One file's result as `--json` prints it.
struct HashReport: Encodable {
    let path: String
    let size: Int
    let sha256: String
    let sha512: String
    let sha512Hex: String

    init(path: String, digests: FileDigests) {
        self.path = path
        size = digests.size
        sha256 = digests.sha256.hex
        sha512 = digests.sha512.base64
        sha512Hex = digests.sha512.hex
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
