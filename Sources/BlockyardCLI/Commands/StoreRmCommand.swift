import ArgumentParser
import BlockyardStore

/// `blockyard store rm NAME@VERSION…`.
struct StoreRmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove versions (their chunks go at the next gc).",
        discussion: """
            Deletes each manifest and releases its chunk references in one
            transaction. Chunks no other version uses stay until `store gc`.

            EXAMPLES
              blockyard store rm model@0.9
              blockyard store rm app@2.0.0 app@2.0.1 && blockyard store gc
            """)

    @Argument(help: "The versions to remove, as NAME@VERSION.")
    var refs: [String]

    @Flag(help: "Wait for another writer to finish instead of failing.")
    var wait = false

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        var ref: String
        var size: Int
        var releasedChunks: Int
        var releasedBytes: Int
    }

    func validate() throws {
        if refs.isEmpty { throw ValidationError("give at least one NAME@VERSION") }
    }

    func run() throws {
        let refs = try self.refs.map(StoreFailure.parse)
        let store = try location.open(.write, wait: wait, purpose: "store rm")
        var outputs: [Output] = []
        for ref in refs {
            let report = try StoreFailure.run { () throws(StoreError) in try store.remove(ref) }
            outputs.append(Output(ref: ref.description, size: report.size, releasedChunks: report.releasedChunks,
                                  releasedBytes: report.releasedBytes))
            if !json {
                Console.out("removed \(ref) (\(HumanSize.format(report.size))); \(HumanSize.format(report.releasedBytes)) in \(StoreFormatting.count(report.releasedChunks)) chunks no longer referenced")
            }
        }
        if json { Console.out(Console.json(outputs)) }
    }
}
