import ArgumentParser
import BlockyardRelease

/// `blockyard release promote --version V --channel C [--dir DIR]`.
struct ReleasePromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Point a channel at a released version: promotion, or rollback to an earlier one.",
        discussion: """
            Regenerates the channel's files (one per platform the version has
            artifacts for) from releases/VERSION/release.json, with a new releaseDate
            and no staging unless --staging-percentage is given. Artifacts are not
            touched. Only the named channel changes; no fan-out.

            A rollback only reaches clients that accept downgrades: electron-updater
            installs an older version only with allowDowngrade (which setting
            updater.channel turns on). Verifying clients accept it because it is
            issued after the metadata they last saw (see docs/RELEASES.md).

            EXAMPLES
              blockyard release promote --dir site --version 1.3.0-beta.2 --channel latest
              blockyard release promote --dir site --version 1.1.0 --channel latest \\
                  --sign release.key
            """)

    @Option(help: "The version to point the channel at.")
    var version: String

    @Option(help: "The channel to change.")
    var channel: String

    @Option(help: ArgumentHelp("The release directory.", valueName: "DIR"))
    var dir = "."

    @Option(help: ArgumentHelp("Offer it to this percentage of users (whole number).", valueName: "PERCENT"))
    var stagingPercentage: String?

    @Option(help: ArgumentHelp("Sign the channel files with this Ed25519 key.", valueName: "KEY"))
    var sign: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let staging = try stagingPercentage.map { text in try ReleaseConsole.run { () throws(ReleaseError) in try StagingPercentage.parse(text) } }
        let key = try ReleaseConsole.signingKey(sign)
        let result = try ReleaseConsole.run { () throws(ReleaseError) in
            try ChannelEditor.promote(root: dir, version: version, channel: channel, stagingPercentage: staging, signingKey: key)
        }
        ReleaseConsole.warnings(result.warnings)
        if json {
            Console.out(Console.json(result))
        } else {
            ReleaseConsole.printChanges(result.channelFiles)
        }
    }
}
