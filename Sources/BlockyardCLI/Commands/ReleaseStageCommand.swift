import ArgumentParser
import BlockyardRelease

/// `blockyard release stage --channel C --percent P [--dir DIR]`.
struct ReleaseStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "Change a channel's staged-rollout percentage.",
        discussion: """
            Sets stagingPercentage in every channel file of the channel (all
            platforms), leaving everything else as it is. Whole numbers only:
            electron-updater reads the value with parseInt, so 12.5 would mean 12%
            and 0.5 would mean 0%. 100 removes the field (everyone).

            A user is in the rollout when the last 32 bits of their updater id,
            divided by 0xffffffff, are below PERCENT/100; raising the percentage
            keeps everyone already in. Users outside get no update at all.

            EXAMPLES
              blockyard release stage --dir site --channel latest --percent 10
              blockyard release stage --dir site --channel latest --percent 100 \\
                  --sign release.key
            """)

    @Option(help: "The channel to change.")
    var channel: String

    @Option(help: ArgumentHelp("The percentage of users offered the update (0-100, whole).", valueName: "PERCENT"))
    var percent: String

    @Option(help: ArgumentHelp("The release directory.", valueName: "DIR"))
    var dir = "."

    @Option(help: ArgumentHelp("Sign the channel files with this Ed25519 key.", valueName: "KEY"))
    var sign: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let value = try ReleaseConsole.run { () throws(ReleaseError) in try StagingPercentage.parse(percent) }
        let key = try ReleaseConsole.signingKey(sign)
        let result = try ReleaseConsole.run { () throws(ReleaseError) in
            try ChannelEditor.stage(root: dir, channel: channel, percent: value, signingKey: key)
        }
        ReleaseConsole.warnings(result.warnings)
        if json {
            Console.out(Console.json(result))
        } else {
            ReleaseConsole.printChanges(result.channelFiles)
        }
    }
}
