import BlockyardCore
import BlockyardIO
import Crypto
import Foundation

/// An Ed25519 private key for signing channel files, stored as PEM PKCS#8 (RFC 8410,
/// `-----BEGIN PRIVATE KEY-----`), the format `openssl genpkey -algorithm ed25519` writes
/// and reads.
public struct MetadataSigningKey: Sendable {
    let key: Curve25519.Signing.PrivateKey

    /// A new random key.
    public static func generate() -> MetadataSigningKey { MetadataSigningKey(key: .init()) }

    /// The 32-byte seed (RFC 8032 private key).
    public init(rawRepresentation: [UInt8]) throws(ReleaseError) {
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        } catch {
            throw ReleaseError(.invalidData, "not an Ed25519 private key")
        }
    }

    init(key: Curve25519.Signing.PrivateKey) { self.key = key }

    /// Reads a PEM `PRIVATE KEY` (PKCS#8 Ed25519).
    public init(pem: String) throws(ReleaseError) {
        guard let der = PEM.decode(pem, label: "PRIVATE KEY"), der.count == PEM.pkcs8Prefix.count + 32,
              Array(der.prefix(PEM.pkcs8Prefix.count)) == PEM.pkcs8Prefix else {
            throw ReleaseError(.invalidData, "not an Ed25519 private key in PEM (PKCS#8) form; create one with `blockyard key generate`")
        }
        try self.init(rawRepresentation: Array(der.suffix(32)))
    }

    /// Reads a key file written by ``pem``.
    public init(contentsOf path: String) throws(ReleaseError) {
        let text = try PEM.readKeyFile(path)
        do {
            try self.init(pem: text)
        } catch {
            throw ReleaseError(.invalidData, "\(path): \(error.message)")
        }
    }

    public var pem: String { PEM.encode(PEM.pkcs8Prefix + Array(key.rawRepresentation), label: "PRIVATE KEY") }

    public var publicKey: MetadataPublicKey { MetadataPublicKey(key: key.publicKey) }

    /// Signs `message` (Ed25519, RFC 8032).
    public func signature(for message: [UInt8]) -> [UInt8] {
        // Signing with a valid key does not fail.
        Array((try? key.signature(for: message)) ?? Data())
    }
}

/// An Ed25519 public key: PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`, what
/// `openssl pkey -pubout` writes), or the bare 32 bytes in base64 (44 characters, short
/// enough to compile into an application).
public struct MetadataPublicKey: Sendable, Equatable {
    let key: Curve25519.Signing.PublicKey

    init(key: Curve25519.Signing.PublicKey) { self.key = key }

    public init(rawRepresentation: [UInt8]) throws(ReleaseError) {
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)
        } catch {
            throw ReleaseError(.invalidData, "not an Ed25519 public key")
        }
    }

    /// Accepts PEM (SPKI) or base64 of the raw 32 bytes.
    public init(text: String) throws(ReleaseError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("-----BEGIN") {
            guard let der = PEM.decode(trimmed, label: "PUBLIC KEY"), der.count == PEM.spkiPrefix.count + 32,
                  Array(der.prefix(PEM.spkiPrefix.count)) == PEM.spkiPrefix else {
                throw ReleaseError(.invalidData, "not an Ed25519 public key in PEM (SubjectPublicKeyInfo) form")
            }
            try self.init(rawRepresentation: Array(der.suffix(32)))
        } else {
            guard let raw = Base64.decode(trimmed), raw.count == 32 else {
                throw ReleaseError(.invalidData, "not an Ed25519 public key: expected PEM or 44 characters of base64")
            }
            try self.init(rawRepresentation: raw)
        }
    }

    /// Reads a public key from a file (PEM or base64), or, when `argument` is not a file,
    /// takes it as the base64 key itself.
    public init(fileOrBase64 argument: String) throws(ReleaseError) {
        if FileManager.default.fileExists(atPath: argument) {
            let text = try PEM.readKeyFile(argument)
            do {
                try self.init(text: text)
            } catch {
                throw ReleaseError(.invalidData, "\(argument): \(error.message)")
            }
        } else {
            do {
                try self.init(text: argument)
            } catch {
                throw ReleaseError(.missingInput, "\(argument): no such file, and not a base64 Ed25519 public key")
            }
        }
    }

    public var rawRepresentation: [UInt8] { Array(key.rawRepresentation) }
    public var base64: String { Base64.encode(rawRepresentation) }
    public var pem: String { PEM.encode(PEM.spkiPrefix + rawRepresentation, label: "PUBLIC KEY") }

    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }

    public static func == (a: MetadataPublicKey, b: MetadataPublicKey) -> Bool { a.rawRepresentation == b.rawRepresentation }
}

/// PEM armour for the two fixed-length Ed25519 DER structures of RFC 8410.
enum PEM {
    /// PrivateKeyInfo { version 0, AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
    static let pkcs8Prefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    /// SubjectPublicKeyInfo { AlgorithmIdentifier { 1.3.101.112 }, BIT STRING (0 unused bits, 32 bytes) }
    static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    static func encode(_ der: [UInt8], label: String) -> String {
        let body = Base64.encode(der)
        var lines: [Substring] = []
        var rest = Substring(body)
        while !rest.isEmpty {
            lines.append(rest.prefix(64))
            rest = rest.dropFirst(64)
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }

    /// The text of a key file (at most 64 KiB).
    static func readKeyFile(_ path: String) throws(ReleaseError) -> String {
        do {
            return String(decoding: try FileInput.readAll(path: path, limit: 1 << 16), as: UTF8.self)
        } catch {
            throw ReleaseError.input(error)
        }
    }

    static func decode(_ text: String, label: String) -> [UInt8]? {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else { return nil }
        let body = text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        return Base64.decode(body)
    }
}
