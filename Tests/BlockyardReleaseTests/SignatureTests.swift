import BlockyardRelease
import Foundation
import Testing

@Suite("Signed metadata")
struct SignatureTests {
    let key = MetadataSigningKey.generate()
    let sha = "XlZmjzaCV2cEmZ25BUyiojREAc9JFGc6a441IVU6mquZ9AowjZ4vUTW3fzWFpaVBLcGctdub13D126CmcY/dwQ=="

    func channelFile(_ version: String, issued: String) -> [UInt8] {
        Array(ChannelFileYAML.encode(UpdateInfo(version: version, files: [UpdateFileInfo(url: "releases/\(version)/a.exe", sha512: sha, size: 1)],
                                                releaseDate: issued)).utf8)
    }

    func failure(_ body: () throws(MetadataVerificationError) -> Void) -> MetadataVerificationFailure? {
        do {
            try body()
            return nil
        } catch {
            return error.failure
        }
    }

    @Test func validSignatureVerifies() throws {
        let content = channelFile("1.2.0", issued: "2026-01-01T00:00:00.000Z")
        let sig = ChannelFileSignature.sign(name: "latest.yml", content: content, key: key)
        #expect(sig.hasSuffix("\n"))
        #expect(sig.count == 89)
        let result = try MetadataVerifier(publicKey: key.publicKey).verify(name: "latest.yml", content: content, signature: sig, lastSeen: nil)
        #expect(result.info.version == "1.2.0")
        #expect(result.seen == SeenMetadata(version: "1.2.0", releaseDate: "2026-01-01T00:00:00.000Z"))
    }

    @Test func everyTamperedByteIsRejected() throws {
        let content = channelFile("1.2.0", issued: "2026-01-01T00:00:00.000Z")
        let sig = ChannelFileSignature.sign(name: "latest.yml", content: content, key: key)
        let verifier = MetadataVerifier(publicKey: key.publicKey)
        for index in stride(from: 0, to: content.count, by: 7) {
            var tampered = content
            tampered[index] ^= 0x01
            #expect(failure { () throws(MetadataVerificationError) in
                _ = try verifier.verify(name: "latest.yml", content: tampered, signature: sig, lastSeen: nil)
            } == .badSignature, "byte \(index)")
        }
        // A flipped bit in the signature itself.
        var raw = try #require(ChannelFileSignature.parse(sig))
        raw[10] ^= 0x80
        #expect(failure { () throws(MetadataVerificationError) in
            _ = try verifier.verify(name: "latest.yml", content: content, signature: Data(raw).base64EncodedString(), lastSeen: nil)
        } == .badSignature)
    }

    @Test func wrongKeyOtherNameUnsignedAndMalformedAreRejected() {
        let content = channelFile("1.2.0", issued: "2026-01-01T00:00:00.000Z")
        let sig = ChannelFileSignature.sign(name: "beta.yml", content: content, key: key)
        let other = MetadataSigningKey.generate()
        #expect(failure { () throws(MetadataVerificationError) in
            _ = try MetadataVerifier(publicKey: other.publicKey).verify(name: "beta.yml", content: content, signature: sig, lastSeen: nil)
        } == .badSignature)
        // A valid beta.yml served as latest.yml.
        #expect(failure { () throws(MetadataVerificationError) in
            _ = try MetadataVerifier(publicKey: key.publicKey).verify(name: "latest.yml", content: content, signature: sig, lastSeen: nil)
        } == .badSignature)
        #expect(failure { () throws(MetadataVerificationError) in
            _ = try MetadataVerifier(publicKey: key.publicKey).verify(name: "beta.yml", content: content, signature: nil, lastSeen: nil)
        } == .unsigned)
        #expect(failure { () throws(MetadataVerificationError) in
            _ = try MetadataVerifier(publicKey: key.publicKey).verify(name: "beta.yml", content: content, signature: "bm90IGEgc2lnbmF0dXJl\n", lastSeen: nil)
        } == .malformedSignature)
        // Signed garbage is still rejected.
        let garbage = Array("version: 1.0\n".utf8)
        guard case .invalidMetadata? = failure({ () throws(MetadataVerificationError) in
            _ = try MetadataVerifier(publicKey: key.publicKey).verify(name: "beta.yml", content: garbage,
                                                                      signature: ChannelFileSignature.sign(name: "beta.yml", content: garbage, key: key), lastSeen: nil)
        }) else {
            Issue.record("signed invalid metadata was accepted")
            return
        }
    }

    @Test func rollbackProtection() throws {
        let verifier = MetadataVerifier(publicKey: key.publicKey)
        var state = MetadataVerifierState()
        func offer(_ version: String, _ issued: String) throws(MetadataVerificationError) {
            let content = channelFile(version, issued: issued)
            _ = try verifier.verify(name: "latest.yml", content: content,
                                    signature: ChannelFileSignature.sign(name: "latest.yml", content: content, key: key), state: &state)
        }
        try offer("1.1.0", "2026-01-01T00:00:00.000Z")
        try offer("1.1.0", "2026-01-01T00:00:00.000Z")   // the same file again
        try offer("1.2.0", "2026-02-01T00:00:00.000Z")
        // Replaying the genuine, validly signed 1.1.0 metadata: an older version issued earlier.
        #expect(failure { () throws(MetadataVerificationError) in try offer("1.1.0", "2026-01-01T00:00:00.000Z") }
                == .olderVersion(offered: "1.1.0", lastSeen: "1.2.0"))
        // An older version claiming the same issue time is still a rollback.
        #expect(failure { () throws(MetadataVerificationError) in try offer("1.1.0", "2026-02-01T00:00:00.000Z") } != nil)
        #expect(state.channelFiles["latest.yml"] == SeenMetadata(version: "1.2.0", releaseDate: "2026-02-01T00:00:00.000Z"))
        // A deliberate rollback (promote) is issued later and accepted.
        try offer("1.1.0", "2026-03-01T00:00:00.000Z")
        // After it, the withdrawn 1.2.0 metadata cannot be replayed, although its version is higher.
        #expect(failure { () throws(MetadataVerificationError) in try offer("1.2.0", "2026-02-01T00:00:00.000Z") }
                == .replayed(offered: "2026-02-01T00:00:00.000Z", lastSeen: "2026-03-01T00:00:00.000Z"))
        try offer("1.2.1", "2026-03-02T00:00:00.000Z")
        // Other channel files are tracked separately.
        let beta = channelFile("1.0.0", issued: "2025-01-01T00:00:00.000Z")
        _ = try verifier.verify(name: "beta.yml", content: beta, signature: ChannelFileSignature.sign(name: "beta.yml", content: beta, key: key), state: &state)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("seen.json").path
        #expect(try MetadataVerifierState.load(path: path) == MetadataVerifierState())
        try state.save(path: path)
        #expect(try MetadataVerifierState.load(path: path) == state)
    }

    @Test func keysRoundTripAndInteroperateWithOpenSSL() throws {
        let reread = try MetadataSigningKey(pem: key.pem)
        #expect(reread.publicKey == key.publicKey)
        #expect(try MetadataPublicKey(text: key.publicKey.pem) == key.publicKey)
        #expect(try MetadataPublicKey(text: key.publicKey.base64) == key.publicKey)
        #expect(key.pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        expectReleaseError(.invalidData) { () throws(ReleaseError) in try MetadataSigningKey(pem: key.publicKey.pem) }
        expectReleaseError(.invalidData) { () throws(ReleaseError) in try MetadataPublicKey(text: "AAAA") }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try key.pem.write(to: dir.appendingPathComponent("k.pem"), atomically: true, encoding: .utf8)
        try key.publicKey.pem.write(to: dir.appendingPathComponent("k.pub"), atomically: true, encoding: .utf8)
        // OpenSSL derives the same public key from our private key file…
        let (status, derived) = try runTool("/usr/bin/openssl", ["pkey", "-in", "k.pem", "-pubout"], in: dir)
        #expect(status == 0)
        #expect(derived == key.publicKey.pem)
        // …and verifies our signature over the documented message.
        let content = channelFile("1.2.0", issued: "2026-01-01T00:00:00.000Z")
        try Data(ChannelFileSignature.message(name: "latest.yml", content: content)).write(to: dir.appendingPathComponent("msg"))
        let sig = try #require(ChannelFileSignature.parse(ChannelFileSignature.sign(name: "latest.yml", content: content, key: key)))
        try Data(sig).write(to: dir.appendingPathComponent("sig"))
        let (verified, output) = try runTool("/usr/bin/openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", "k.pub", "-rawin", "-in", "msg", "-sigfile", "sig"], in: dir)
        #expect(verified == 0, "\(output)")
        // A key made by OpenSSL is accepted.
        let (made, _) = try runTool("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", "o.pem"], in: dir)
        #expect(made == 0)
        _ = try MetadataSigningKey(contentsOf: dir.appendingPathComponent("o.pem").path)
    }
}
