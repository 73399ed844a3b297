import ArgumentParser
import BlockyardHTTP
import BlockyardIO
import BlockyardRelease
import Foundation

/// `blockyard release verify CHANNEL-FILE|URL --public-key KEY [--state FILE]`.
struct ReleaseVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a signed channel file as an update client would.",
        discussion: """
            Checks the Ed25519 signature in FILE.sig (bound to the file's name) with
            the public key, and the rollback rule against --state: a lower version
            than the last one accepted is rejected unless it was issued later (a
            deliberate rollback), and metadata issued before the last accepted one is
            rejected (a replay). On success the state file is updated. FILE may be an
            http(s) URL; FILE.sig is fetched beside it, as `blockyard update` fetches
            them: retried with backoff, a channel file over 16 MiB or a signature
            over 64 KiB refused as soon as that much has arrived (exit 65).

            Exit codes: 0 verified; 1 signature or rollback check failed; 65 bad
            metadata (too large, malformed); 66 FILE missing (404); 74 network or
            I/O error after every retry.

            --public-key takes a PEM file (from `blockyard key generate`) or the
            base64 key itself.

            EXAMPLES
              blockyard release verify site/latest.yml --public-key release.key.pub
              blockyard release verify https://updates.example.com/latest-mac.yml \\
                  --public-key 'MCowBQYDK2VwAyEA…' --state ~/.myapp/seen.json
            """)

    @Argument(help: ArgumentHelp("The channel file, or its http(s) URL.", valueName: "FILE"))
    var file: String

    @Option(help: ArgumentHelp("The trusted Ed25519 public key: a PEM file or base64.", valueName: "KEY"))
    var publicKey: String

    @Option(help: ArgumentHelp("The signature file (default: FILE.sig).", valueName: "SIGFILE"))
    var signature: String?

    @Option(help: ArgumentHelp("The name the file is published as (default: FILE's name).", valueName: "NAME"))
    var name: String?

    @Option(help: ArgumentHelp("State file with the last accepted metadata (read, then updated).", valueName: "FILE"))
    var state: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Report: Encodable {
        let file: String
        let verified: Bool
        let version: String?
        let releaseDate: String?
        let error: String?
    }

    func run() throws {
        let key = try ReleaseConsole.run { () throws(ReleaseError) in try MetadataPublicKey(fileOrBase64: publicKey) }
        let (content, signatureText, fileName) = try load()
        var current = try ReleaseConsole.run { () throws(ReleaseError) in
            try state.map(MetadataVerifierState.load(path:)) ?? MetadataVerifierState()
        }
        let verifier = MetadataVerifier(publicKey: key)
        let info: UpdateInfo
        do {
            info = try verifier.verify(name: fileName, content: content, signature: signatureText, state: &current)
        } catch {
            if json {
                Console.out(Console.json(Report(file: fileName, verified: false, version: nil, releaseDate: nil, error: error.description)))
            }
            Console.error(error.description)
            throw ExitStatus.checkFailed
        }
        if let state { try ReleaseConsole.run { () throws(ReleaseError) in try current.save(path: state) } }
        if json {
            Console.out(Console.json(Report(file: fileName, verified: true, version: info.version, releaseDate: info.releaseDate, error: nil)))
        } else {
            Console.out("\(fileName): OK, version \(info.version)\(info.releaseDate.map { ", issued \($0)" } ?? "")")
        }
    }

    /// The channel file's bytes, its signature text (nil when absent) and its published name.
    private func load() throws -> ([UInt8], String?, String) {
        if let url = URL(string: file), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" {
            let published = name ?? url.lastPathComponent
            let signatureURL = UpdateFeed.signatureURL(forChannelFile: url)
            let local = try signature.map { try readText($0) }
            // The client's own fetch: retries with backoff, and reading stops as soon as a body
            // passes its limit (16 MiB channel file, 64 KiB signature), endless bodies included.
            let fetched: ([UInt8], [UInt8]?)
            do {
                fetched = try blockOn { () async throws(UpdateError) in
                    let session = HTTPSession(connections: 2)
                    do throws(UpdateError) {
                        let content = try await session.fetch(url, what: "channel file \(published)", limit: FeedLimits.channelFile)!
                        let sig = local == nil
                            ? try await session.fetch(signatureURL, what: "signature \(published)\(ReleaseLayout.signatureSuffix)",
                                                      limit: FeedLimits.signature, missingIsNil: true)
                            : nil
                        await session.shutdown()
                        return (content, sig)
                    } catch {
                        await session.shutdown()
                        throw error
                    }
                }
            } catch {
                Console.error(error.message)
                throw ExitStatus.code(for: error.kind)
            }
            return (fetched.0, local ?? fetched.1.map { String(decoding: $0, as: UTF8.self) }, published)
        }
        let content: [UInt8]
        do {
            content = try FileInput.readAll(path: file, limit: FeedLimits.channelFile)
        } catch {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        }
        let sigPath = signature ?? file + ReleaseLayout.signatureSuffix
        let sigText = FileManager.default.fileExists(atPath: sigPath) ? try readText(sigPath) : nil
        return (content, sigText, name ?? (file as NSString).lastPathComponent)
    }

    private func readText(_ path: String) throws -> String {
        do {
            return String(decoding: try FileInput.readAll(path: path, limit: FeedLimits.signature), as: UTF8.self)
        } catch {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        }
    }
}
