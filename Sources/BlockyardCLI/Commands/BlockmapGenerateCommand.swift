import ArgumentParser
import BlockyardCore
import BlockyardIO

/// `blockyard blockmap [generate] --input F [--output F.blockmap] [--compression gzip|deflate]`.
struct BlockmapGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a blockmap for an artifact and print its info JSON (app-builder compatible).",
        discussion: """
            Prints the info JSON electron-builder copies into latest*.yml, exactly as app-builder
            prints it (one line, no trailing newline):
              {"size":N,"sha512":"BASE64"}                     with --output
              {"size":N,"sha512":"BASE64","blockMapSize":L}    embedded mode

            MODES
              --output F.blockmap                 write the gzip'd blockmap to F.blockmap
              --compression deflate (no output)   embedded mode: append the raw-DEFLATE blockmap
                                                  and its 4-byte big-endian length to the input
                                                  (AppImage, nsis-web). The input is replaced
                                                  atomically, only if everything succeeded.

            GENERATIONS (--compat)
              electron-builder   electron-builder >= 26.14: no trailing zero-length chunk [default]
              app-builder        the Go app-builder tool (electron-builder <= 26.13)

            EXAMPLES
              blockyard blockmap --input MyApp-1.2.0.exe --output MyApp-1.2.0.exe.blockmap
              blockyard blockmap --input MyApp-1.2.0.AppImage --compression deflate
            """)

    enum Compression: String, ExpressibleByArgument, CaseIterable {
        case gzip, deflate
    }

    @Option(name: .shortAndLong, help: "The artifact to describe.")
    var input: String

    @Option(name: .shortAndLong, help: "Where to write the blockmap. Without it, embedded mode (needs --compression deflate).")
    var output: String?

    @Option(help: "gzip (separate .blockmap file) or deflate (embedded, or raw DEFLATE with --output).")
    var compression: Compression = .gzip

    @Option(help: "Blockmap generation to reproduce: electron-builder or app-builder.")
    var compat: BlockmapCompat = .electronBuilder

    func validate() throws {
        if output == nil && compression == .gzip {
            throw ValidationError("without --output, the blockmap is embedded in the input, which needs --compression deflate (electron-builder's embedded format)")
        }
    }

    func run() throws {
        let bar = ProgressBar(label: input, total: FileSize.of(input) ?? 0)
        defer { bar.finish() }
        do {
            if let output {
                let result = try BlockmapGenerator.generate(path: input, compat: compat, progress: bar.advance(by:))
                let bytes = compression == .gzip
                    ? BlockmapCodec.encodeGzip(result.blockmap)
                    : Zlib.compress(result.blockmap.jsonBytes(), format: .raw)
                do {
                    try AtomicFileWriter.write(bytes, to: output)
                } catch {
                    Console.error(error.description)
                    throw ExitStatus.cannotCreate
                }
                bar.finish()
                Console.out(result.info.json, terminator: "")
            } else {
                guard FileSize.of(input) != nil else {
                    Console.error("\(input): embedded mode needs a regular file to append to")
                    throw ExitStatus.noInput
                }
                let (result, tail) = try BlockmapGenerator.generateEmbedded(path: input, compat: compat, progress: bar.advance(by:))
                try BlockmapGenerator.appendAtomically(path: input, tail: tail, expectedSize: result.size - tail.count)
                bar.finish()
                Console.out(result.info.json, terminator: "")
            }
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        }
    }
}

extension BlockmapCompat: ExpressibleByArgument {}
