import ArgumentParser
import BlockyardCore
import BlockyardIO
import Foundation

/// `blockyard index FILE [--out DIR] [--level N] [--json]`.
struct IndexBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Write FILE.byindex and FILE.bypack for a file.",
        discussion: """
            Cuts FILE into content-defined chunks (electron-builder's chunker: 8–32 KiB,
            so the chunks are the blockmap's), compresses each chunk with zstd on its
            own (kept raw when that is not smaller), and writes the pack and the Merkle
            index over the chunks beside FILE, or into --out DIR. Both files are written
            atomically (temporary name, fsync, rename): on failure the old files stay
            and nothing is left behind. Uses every core.

            The summary gives the chunk count, the tree's levels and root hash, and the
            raw and packed sizes. The root identifies the content: equal files give
            equal roots.

            EXAMPLES
              blockyard index MyApp-1.2.0.exe
              blockyard index model.safetensors --out release/ --level 6
              blockyard index MyApp-1.2.0.exe --json
              blockyard index inspect MyApp-1.2.0.exe.byindex --pack MyApp-1.2.0.exe.bypack
            """)

    @Argument(help: "The artifact to index.")
    var file: String

    @Option(help: ArgumentHelp("Write the two files into DIR instead of beside FILE.", valueName: "DIR"))
    var out: String?

    @Option(help: "zstd level of the pack, \(DeliveryParameters.compressionLevels.lowerBound)…\(DeliveryParameters.compressionLevels.upperBound) (default \(DeliveryParameters.defaultCompressionLevel)).")
    var level: Int32 = DeliveryParameters.defaultCompressionLevel

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard DeliveryParameters.compressionLevels.contains(level) else {
            throw ValidationError("--level must be in \(DeliveryParameters.compressionLevels.lowerBound)…\(DeliveryParameters.compressionLevels.upperBound)")
        }
    }

    func run() throws {
        let name = URL(fileURLWithPath: file).lastPathComponent
        let directory = out ?? URL(fileURLWithPath: file).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if let out, !(FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) && isDirectory.boolValue) {
            Console.error("\(out): not a directory")
            throw ExitStatus.cannotCreate
        }
        let indexPath = (directory as NSString).appendingPathComponent(name + ".byindex")
        let packPath = (directory as NSString).appendingPathComponent(name + ".bypack")
        let started = DispatchTime.now()
        let output: DeliveryFileBuilder.Output
        do {
            output = try DeliveryFileBuilder.build(inputPath: file, indexPath: indexPath, packPath: packPath,
                                                   parameters: DeliveryParameters(compressionLevel: level))
        } catch {
            Console.error(error.description)
            throw error.path == file ? ExitStatus.forInput(error) : ExitStatus.cannotCreate
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let summary = DeliverySummary(output.index, indexSize: output.indexSize)
        if json {
            Console.out(Console.json(IndexBuildReport(input: file, index: indexPath, pack: packPath,
                                                      seconds: (seconds * 1000).rounded() / 1000, summary: summary)))
            return
        }
        Console.out(IndexReport.lines(for: summary, title: "\(file): \(HumanSize.format(Int(summary.artifactSize))) in \(summary.chunks) chunk\(summary.chunks == 1 ? "" : "s")"))
        Console.out("  wrote    \(indexPath), \(packPath) in \(String(format: "%.2f", seconds)) s")
    }
}

struct IndexBuildReport: Encodable {
    let input: String
    let index: String
    let pack: String
    let seconds: Double
    let summary: DeliverySummary
}

/// The human summary both index commands print.
enum IndexReport {
    static func lines(for s: DeliverySummary, title: String) -> String {
        let tree = (s.levelNodes.map(String.init) + ["\(s.chunks) leaves"]).joined(separator: " · ")
        return """
            \(title)
              root     \(s.root)
              levels   \(s.levels) (\(tree))
              artifact \(s.artifactSize) bytes (\(HumanSize.format(Int(s.artifactSize))))
              pack     \(s.packSize) bytes (\(HumanSize.format(Int(s.packSize)))), ratio \(String(format: "%.2f", s.compressionRatio))×, \(s.chunksStoredRaw) of \(s.chunks) chunks stored raw, zstd level \(s.compressionLevel)
              index    \(s.indexSize) bytes (\(HumanSize.format(s.indexSize))), format version \(s.formatVersion)
            """
    }
}
