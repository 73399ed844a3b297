import ArgumentParser
import BlockyardStore

/// `blockyard store init [--path DIR]`.
struct StoreInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an empty store (or check the one already there).",
        discussion: """
            Creates DIR and its parents as needed. An existing store is opened and
            its format checked; nothing is changed. A non-empty directory that is
            not a store is refused.

            EXAMPLES
              blockyard store init
              blockyard store init --path /srv/blockyard/store
            """)

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        var path: String
        var created: Bool
        var formatVersion: Int
    }

    func run() throws {
        let path = location.path
        let (_, created) = try StoreFailure.run { () throws(StoreError) in try ChunkStore.initialize(at: path) }
        if json {
            Console.out(Console.json(Output(path: path, created: created, formatVersion: StoreFormat.version)))
        } else if created {
            Console.out("Initialized an empty Blockyard store in \(path)")
        } else {
            Console.out("A Blockyard store (format \(StoreFormat.version)) already exists in \(path); nothing changed")
        }
    }
}
