import ArgumentParser
import BlockyardCore
import BlockyardIO

/// `blockyard index inspect FILE.byindex [--pack FILE.bypack] [--root HEX] [--json]`.
struct IndexInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Validate a delivery index (and its pack), then summarise it.",
        discussion: """
            Checks every byte of the index: magic, format version, header fields,
            counts, every record's offsets and sizes, every node's hash up to the root
            and that the tree is grouped by its rule. With --pack, also decodes every
            chunk of the pack and checks its SHA-256. With --root, the root must be that
            hash (as a channel file records it).

            A corrupt, truncated or mismatched index or pack exits with 65 and says what
            is wrong; a missing file exits with 66; a root other than --root exits with
            1.

            EXAMPLES
              blockyard index inspect MyApp-1.2.0.exe.byindex
              blockyard index inspect MyApp-1.2.0.exe.byindex --pack MyApp-1.2.0.exe.bypack --json
              blockyard index inspect model.byindex --root 3f9a…e1
            """)

    @Argument(help: "A .byindex file.")
    var file: String

    @Option(help: ArgumentHelp("Also verify this pack against the index.", valueName: "FILE.bypack"))
    var pack: String?

    @Option(help: ArgumentHelp("The root hash the index must have (64 hex digits).", valueName: "HEX"))
    var root: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        if let root, Hex.decode(root)?.count != 32 {
            throw ValidationError("--root must be 64 hexadecimal digits")
        }
    }

    func run() throws {
        let index: DeliveryIndex
        let size: Int
        do {
            let bytes = try FileInput.readAll(path: file, limit: 1 << 32)
            size = bytes.count
            index = try DeliveryIndexCodec.decode(bytes)
        } catch let error as FileError {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        } catch let error as DeliveryIndexError {
            Console.error("\(file): \(error.description)")
            throw ExitStatus.dataError
        }
        if let pack {
            do {
                try DeliveryPackFile.verify(index, packPath: pack)
            } catch {
                switch error {
                case .file(let failure):
                    Console.error(failure.description)
                    throw ExitStatus.forInput(failure)
                case .data(let failure):
                    Console.error("\(pack): \(failure.description)")
                    throw ExitStatus.dataError
                }
            }
        }
        if let root, let expected = Hex.decode(root), DeliveryHash(expected) != index.rootHash {
            let failure = DeliveryIndexError.rootHashMismatch(expected: Hex.encode(expected), actual: index.rootHash.hex)
            Console.error("\(file): \(failure.description)")
            throw ExitStatus.checkFailed
        }
        let summary = DeliverySummary(index, indexSize: size)
        if json {
            Console.out(Console.json(IndexInspectReport(path: file, pack: pack, packVerified: pack != nil, summary: summary)))
            return
        }
        Console.out(IndexReport.lines(for: summary, title: "\(file): delivery index, valid"))
        if let pack { Console.out("  verified \(pack): every chunk's SHA-256 matches") }
    }
}

struct IndexInspectReport: Encodable {
    let path: String
    let pack: String?
    let packVerified: Bool
    let summary: DeliverySummary
}
