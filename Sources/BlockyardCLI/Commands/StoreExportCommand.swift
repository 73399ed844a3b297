import ArgumentParser
import BlockyardStore

/// `blockyard store export NAME@VERSION DIR`.
struct StoreExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write every file of a version into a directory, verified.",
        discussion: """
            Each file is written under a temporary name and checked against its
            SHA-512; only when every file is complete are they renamed into place
            with their permission bits, and symbolic links created last. A failure
            removes everything the export created (no partial tree). Existing
            files are not replaced unless --force is given.

            EXAMPLES
              blockyard store export app@2.3.0 out/app-2.3.0
            """)

    @Argument(help: "The version to export, as NAME@VERSION.")
    var ref: String

    @Argument(help: "The directory to write into (created if needed).")
    var directory: String

    @Flag(help: "Replace files that already exist.")
    var force = false

    @OptionGroup var location: StoreLocation

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Output: Encodable {
        var ref: String
        var directory: String
        var files: Int
        var symlinks: Int
        var bytes: Int
    }

    func run() throws {
        let ref = try StoreFailure.parse(self.ref)
        let store = try location.open(.read)
        let report: ExportReport
        do {
            report = try store.export(ref, to: directory, overwrite: force)
        } catch {
            Console.error(error.description)
            if case .file = error { throw ExitStatus.cannotCreate }
            throw StoreFailure.exitCode(for: error)
        }
        if json {
            Console.out(Console.json(Output(ref: ref.description, directory: directory, files: report.files,
                                            symlinks: report.symlinks, bytes: report.bytes)))
        } else {
            let links = report.symlinks > 0 ? " and \(report.symlinks) symbolic links" : ""
            Console.out("exported \(ref): \(report.files) files\(links), \(HumanSize.format(report.bytes)), to \(directory)")
        }
    }
}
