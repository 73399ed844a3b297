import ArgumentParser
import BlockyardCore
import BlockyardIO

/// `blockyard blockmap inspect FILE.blockmap | --embedded ARTIFACT`.
struct BlockmapInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Decode and validate a blockmap, then summarise it.",
        discussion: """
            Checks the gzip stream, the JSON structure (version, equal array lengths, checksums of
            24 base64 characters, sizes), and with --size that the chunks add up to the artifact.
            A corrupt, truncated or non-gzip file exits with 65 and says what is wrong.

            EXAMPLES
              blockyard blockmap inspect MyApp-1.2.0.exe.blockmap --size 81234567
              blockyard blockmap inspect --embedded MyApp-1.2.0.AppImage --json
            """)

    @Argument(help: "A .blockmap file (gzip'd JSON).")
    var file: String?

    @Option(help: ArgumentHelp("Read the blockmap embedded at the end of an artifact instead.", valueName: "ARTIFACT"))
    var embedded: String?

    @Option(help: "Expected artifact size: the chunk sizes must add up to it.")
    var size: Int?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "Print the decoded blockmap JSON itself (exact electron-builder form).")
    var printJSON = false

    func validate() throws {
        if (file == nil) == (embedded == nil) {
            throw ValidationError("give either a .blockmap FILE or --embedded ARTIFACT")
        }
    }

    func run() throws {
        let source = file ?? embedded!
        let blockmap: Blockmap
        var expectedSize = size
        do {
            // Both forms are read in pieces and parsed as they inflate: memory stays at the
            // decoded chunk lists, whatever the file's size (docs/BLOCKMAP.md).
            if let file {
                let input = try FileInput(path: file)
                blockmap = try BlockmapCodec.decodeGzip(reading: { try input.read(into: $0) })
            } else {
                let input = try FileInput(path: source)
                guard let fileSize = input.regularFileSize else {
                    throw FileError(path: source, kind: .notRegularFile, reason: "not a regular file")
                }
                let trailer = fileSize >= 4 ? try input.pread(offset: fileSize - 4, count: 4) : []
                let length = try BlockmapCodec.embeddedLength(trailer: trailer, fileSize: fileSize)
                var position = fileSize - 4 - length
                let stop = fileSize - 4
                blockmap = try BlockmapCodec.decodeEmbedded(reading: { buffer in
                    let count = min(buffer.count, stop - position)
                    guard count > 0 else { return 0 }
                    let piece = try input.pread(offset: position, count: count)
                    buffer.copyBytes(from: piece)
                    position += count
                    return count
                })
                expectedSize = expectedSize ?? fileSize - 4 - length
            }
            try blockmap.validate(expectedSize: expectedSize)
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        } catch let error as BlockmapError {
            Console.error("\(source): \(error.description)")
            throw ExitStatus.dataError
        }
        if printJSON {
            Console.out(blockmap.json, terminator: "")
            return
        }
        let summary = BlockmapSummary(blockmap)
        if json {
            Console.out(Console.json(InspectReport(path: source, summary: summary)))
            return
        }
        Console.out("\(source): blockmap version \(summary.version), \(summary.files) file\(summary.files == 1 ? "" : "s")")
        Console.out("  chunks   \(summary.chunks) (\(summary.distinctChunks) distinct)")
        Console.out("  sizes    min \(summary.minChunkSize) B, avg \(Int(summary.averageChunkSize.rounded())) B, max \(summary.maxChunkSize) B")
        Console.out("  total    \(summary.totalSize) bytes (\(HumanSize.format(summary.totalSize)))")
        Console.out("  form     \(summary.trailingZeroChunk ? "app-builder (ends with a zero-length chunk)" : "electron-builder >= 26.14 (no trailing zero-length chunk)")")
        if let expectedSize { Console.out("  size     matches \(expectedSize)") }
    }
}

struct InspectReport: Encodable {
    let path: String
    let summary: BlockmapSummary
}
