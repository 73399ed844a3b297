import ArgumentParser
import BlockyardStore

/// `blockyard store ls [NAME | NAME@VERSION]`.
struct StoreLsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List stored versions, or the files of one version.",
        discussion: """
            Without an argument, lists every NAME@VERSION with its size, files,
            chunks and creation time. With NAME, only that name's versions. With
            NAME@VERSION, its files: size, mode, SHA-256, chunks and tensor cuts.

            EXAMPLES
              blockyard store ls
              blockyard store ls model
              blockyard store ls model@1.0 --json
            """)

    @Argument(help: "A NAME or NAME@VERSION.")
    var what: String?

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct VersionRow: Encodable {
        var name: String
        var version: String
        var size: Int
        var files: Int
        var chunks: Int
        var createdAt: String
    }

    struct MemberRow: Encodable {
        var path: String
        var type: String
        var mode: String
        var size: Int
        var chunks: Int
        var sha256: String
        var sha512: String
        var boundaries: String?
        var forcedCuts: Int
        var linkTarget: String?
    }

    func run() throws {
        let store = try location.open(.read)
        if let what, what.contains("@") {
            // NAME@VERSION, unless it is a name containing '@' (npm scopes) with versions.
            let ref = try StoreFailure.parse(what)
            if let manifest = try? store.manifest(ref) {
                try listMembers(manifest)
                return
            }
            if ((try? store.list(name: what)) ?? []).isEmpty {
                _ = try StoreFailure.run { () throws(StoreError) in try store.manifest(ref) }
            }
        }
        let summaries = try StoreFailure.run { () throws(StoreError) in try store.list(name: what) }
        let rows = summaries.map {
            VersionRow(name: $0.ref.name, version: $0.ref.version, size: $0.size, files: $0.memberCount,
                       chunks: $0.chunkCount, createdAt: StoreFormatting.date($0.createdAt))
        }
        if json {
            Console.out(Console.json(rows))
            return
        }
        if rows.isEmpty {
            if let what { Console.error("no versions of \(what.debugDescription) in the store"); throw ExitStatus.noInput }
            Console.out("the store is empty")
            return
        }
        let width = rows.map { $0.name.count + $0.version.count + 1 }.max() ?? 0
        for r in rows {
            let ref = "\(r.name)@\(r.version)"
            Console.out(ref.padding(toLength: max(width, ref.count), withPad: " ", startingAt: 0)
                + "  " + StoreFormatting.right(HumanSize.format(r.size), 10)
                + "  " + StoreFormatting.right("\(r.files) file\(r.files == 1 ? "" : "s")", 9)
                + "  " + StoreFormatting.right("\(StoreFormatting.count(r.chunks)) chunks", 14)
                + "  " + r.createdAt)
        }
    }

    private func listMembers(_ manifest: Manifest) throws {
        let rows = manifest.members.map { m -> MemberRow in
            var type = "file", target: String?
            if case .symlink(let t) = m.kind { type = "symlink"; target = t }
            return MemberRow(path: m.path, type: type, mode: String(m.mode, radix: 8), size: m.size, chunks: m.chunks.count,
                             sha256: m.sha256.hex, sha512: m.sha512.base64, boundaries: m.boundaryFormat?.rawValue,
                             forcedCuts: m.forcedCuts, linkTarget: target)
        }
        if json {
            Console.out(Console.json(rows))
            return
        }
        Console.out("\(manifest.ref): \(manifest.source) \(manifest.sourceName.debugDescription), \(HumanSize.format(manifest.size)), created \(StoreFormatting.date(manifest.createdAt))")
        for r in rows {
            var line = "  " + StoreFormatting.right(r.mode, 4) + "  " + StoreFormatting.right(HumanSize.format(r.size), 10)
                + "  " + StoreFormatting.right("\(StoreFormatting.count(r.chunks)) chunks", 14) + "  " + String(r.sha256.prefix(16)) + "  " + r.path
            if let target = r.linkTarget { line += " -> " + target }
            if let b = r.boundaries { line += "  [\(b): \(r.forcedCuts) tensor cuts]" }
            Console.out(line)
        }
    }
}
