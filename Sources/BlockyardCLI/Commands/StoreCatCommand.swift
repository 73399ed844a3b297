import ArgumentParser
import BlockyardStore

/// `blockyard store cat NAME@VERSION [--member PATH]`.
struct StoreCatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Write a stored file to standard output, verified as it streams.",
        discussion: """
            Rebuilds the file from its chunks and checks it against the manifest's
            SHA-512 while writing. On a mismatch the bytes are already out: the
            exit code is 1 and the output must be discarded.

            EXAMPLES
              blockyard store cat model@1.0 > model.safetensors
              blockyard store cat app@2.3.0 --member resources/app.asar > app.asar
            """)

    @Argument(help: "The version to write, as NAME@VERSION.")
    var ref: String

    @Option(help: "The member to write (needed when the version has several).")
    var member: String?

    @OptionGroup var location: StoreLocation

    func run() throws {
        let ref = try StoreFailure.parse(self.ref)
        let store = try location.open(.read)
        try StoreFailure.run { () throws(StoreError) in
            let manifest = try store.manifest(ref)
            let member = try store.member(of: manifest, path: member)
            _ = try store.reconstruct(member, of: ref, to: 1)
        }
    }
}
