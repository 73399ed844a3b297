import ArgumentParser
import BlockyardCore
import BlockyardStore
import Foundation

/// `blockyard store add FILE --name NAME --version VERSION`.
struct StoreAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a file, directory or archive as NAME@VERSION.",
        discussion: """
            Chunks the input with the blockmap chunker, stores every chunk the store
            does not have yet, and records a manifest (sizes, SHA-512, SHA-256, the
            chunk list). Prints the new bytes stored against the version's size.

            INPUTS
              FILE          one member, named after the file
              DIR           every regular file and symbolic link below DIR
              archive       .tar .tar.gz .tgz .tar.bz2 .tar.xz .tar.zst .zip:
                            each member is stored as its own file (--no-unpack
                            stores the archive itself, e.g. for mac update zips)

            Member boundaries are forced chunk boundaries. With --aware (the
            default), safetensors and GGUF files are also cut at tensor
            boundaries, so a changed tensor shares no chunk with its neighbours.

            Adding an existing NAME@VERSION with the same content succeeds and
            changes nothing (safe to retry); other content is refused (exit 73).

            EXAMPLES
              blockyard store add model.safetensors --name llm --version 2.0
              blockyard store add release.tar.gz --name app --version 1.4.2
              blockyard store add MyApp-1.4.2-mac.zip --no-unpack \\
                  --name myapp-mac --version 1.4.2
            """)

    @Argument(help: "The file, directory or archive to store.")
    var input: String

    @Option(help: "The artifact's name.")
    var name: String

    @Option(help: "The version to record.")
    var version: String

    @Flag(inversion: .prefixedNo, help: "Cut at tensor boundaries of safetensors and GGUF files.")
    var aware = true

    @Flag(inversion: .prefixedNo, help: "Store archive members as files (default: by the file name).")
    var unpack: Bool?

    @Option(name: .customLong("batch-mib"), help: ArgumentHelp("New chunk data per write transaction.", valueName: "MiB"))
    var batchMiB = 32

    @Flag(help: "Wait for another writer to finish instead of failing.")
    var wait = false

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard batchMiB >= 1 && batchMiB <= 4096 else { throw ValidationError("--batch-mib must be between 1 and 4096") }
    }

    struct Output: Encodable {
        struct Store: Encodable {
            var versions: Int
            var logicalBytes: Int
            var physicalBytes: Int
            var dedupRatio: Double?
        }

        var name: String
        var version: String
        var source: String
        var files: Int
        var size: Int
        var chunks: Int
        var newChunks: Int
        var newBytes: Int
        var reusedBytes: Int
        /// size / newBytes: how many times over this version's bytes were already stored.
        var dedupRatio: Double?
        var unchanged: Bool
        var sha512: String?
        var sha256: String?
        var seconds: Double
        var warnings: [String]
        var store: Store
    }

    func run() throws {
        let ref = try StoreFailure.parse("\(name)@\(version)")
        let store = try location.open(.write, wait: wait, purpose: "store add \(ref)")
        var options = AddOptions()
        options.aware = aware
        options.unpack = unpack
        options.batchBytes = batchMiB << 20
        let bar = ProgressBar(label: input, total: FileSize.of(input) ?? 0)
        options.progress = { bar.advance(by: $0) }
        let report = try StoreFailure.run { () throws(StoreError) in try store.add(path: input, as: ref, options: options) }
        bar.finish()
        let totals = try StoreFailure.run { () throws(StoreError) in try store.stats(perName: false) }
        let versionRatio = report.newBytes > 0 ? Double(report.size) / Double(report.newBytes) : nil
        if json {
            Console.out(Console.json(Output(
                name: ref.name, version: ref.version, source: report.source.description, files: report.members,
                size: report.size, chunks: report.chunks, newChunks: report.newChunks, newBytes: report.newBytes,
                reusedBytes: report.size - report.newBytes, dedupRatio: versionRatio, unchanged: report.unchanged,
                sha512: report.sha512?.base64, sha256: report.sha256?.hex, seconds: report.seconds,
                warnings: report.warnings,
                store: .init(versions: totals.versions, logicalBytes: totals.logicalBytes,
                             physicalBytes: totals.physicalBytes, dedupRatio: totals.dedupRatio))))
        } else {
            report.warnings.forEach { Console.warning($0) }
            let files = report.members == 1 ? "1 file" : "\(StoreFormatting.count(report.members)) files"
            if report.unchanged {
                Console.out("\(ref) is already stored with this content; nothing changed")
            } else {
                Console.out("stored \(ref) (\(report.source), \(files)): \(HumanSize.format(report.size)) in \(StoreFormatting.count(report.chunks)) chunks")
            }
            let share = report.size > 0 ? String(format: "%.1f %%", 100 * Double(report.newBytes) / Double(report.size)) : "0 %"
            Console.out("  new:   \(HumanSize.format(report.newBytes)) in \(StoreFormatting.count(report.newChunks)) chunks (\(share) of the version; dedup ratio \(StoreFormatting.ratio(versionRatio)))")
            Console.out("  store: \(totals.versions) versions, \(HumanSize.format(totals.logicalBytes)) logical, \(HumanSize.format(totals.physicalBytes)) stored (dedup ratio \(StoreFormatting.ratio(totals.dedupRatio)))")
        }
    }
}
