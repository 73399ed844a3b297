import BlockyardTestSupport
import Testing

/// The `blockyard` command itself: version, help, exit codes listed.
@Suite("root command")
struct RootCommandTests {
    @Test func versionAndHelp() throws {
        let version = try CommandRunner.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout == "0.1.0\n")
        let help = try CommandRunner.run(["--help"])
        #expect(help.status == 0)
        for code in ["64", "65", "66", "73", "74", "75"] { #expect(help.stdout.contains("  \(code)  "), "exit code \(code)") }
        #expect(help.stdout.contains("blockyard --version"))
        // Subcommands with a `--version VERSION` option list it once, as theirs.
        for command in [["store", "add"], ["release", "create"]] {
            let sub = try CommandRunner.run(command + ["--help"])
            #expect(sub.status == 0)
            #expect(!sub.stdout.contains("Show the version"), "\(command)")
            #expect(sub.stdout.components(separatedBy: "\n  --version <version>").count == 2, "\(command)")
        }
    }
}
