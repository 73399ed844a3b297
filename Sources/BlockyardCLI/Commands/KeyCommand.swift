import ArgumentParser
import BlockyardIO
import BlockyardRelease
import Foundation

/// `blockyard key generate`: Ed25519 keys for signing channel files.
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage Ed25519 keys for signing update metadata.",
        subcommands: [KeyGenerateCommand.self])
}

/// `blockyard key generate --out FILE [--force]`.
struct KeyGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Create an Ed25519 key pair for `release create --sign`.",
        discussion: """
            Writes the private key to FILE (PEM PKCS#8, mode 0600) and the public
            key to FILE.pub (PEM SubjectPublicKeyInfo); both are OpenSSL-compatible.
            Prints the public key in base64, the form to compile into the
            application that verifies updates. Keep FILE secret (a CI secret).

            EXAMPLES
              blockyard key generate --out release.key
              blockyard release create --version 1.2.0 --out site --sign release.key \\
                  dist/MyApp-Setup-1.2.0.exe
            """)

    @Option(name: .customLong("out"), help: ArgumentHelp("Where to write the private key.", valueName: "FILE"))
    var output: String

    @Flag(help: "Replace existing key files.")
    var force = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    struct Report: Encodable {
        let privateKey: String
        let publicKeyFile: String
        let publicKey: String
    }

    func run() throws {
        let publicPath = output + ".pub"
        for path in [output, publicPath] where FileManager.default.fileExists(atPath: path) {
            guard force else {
                Console.error("\(path) already exists; pass --force to replace it")
                throw ExitStatus.cannotCreate
            }
            unlink(path)
        }
        let key = MetadataSigningKey.generate()
        do {
            let writer = try AtomicFileWriter(destination: output, permissions: 0o600)
            try writer.write(Array(key.pem.utf8))
            try writer.commit()
            try AtomicFileWriter.write(Array(key.publicKey.pem.utf8), to: publicPath)
        } catch {
            Console.error(error.description)
            throw ExitStatus.cannotCreate
        }
        if json {
            Console.out(Console.json(Report(privateKey: output, publicKeyFile: publicPath, publicKey: key.publicKey.base64)))
        } else {
            Console.out("private key  \(output)  (keep it secret)")
            Console.out("public key   \(publicPath)")
            Console.out("public key (base64)  \(key.publicKey.base64)")
        }
    }
}
