import COpenSSLCrypto

/// The SHA-2 functions Blockyard uses for whole files.
public enum SHA2Algorithm: Sendable, CaseIterable {
    case sha256
    case sha512

    /// Digest length in bytes.
    public var digestLength: Int { self == .sha256 ? 32 : 64 }

    /// OpenSSL's algorithm name for `EVP_MD_fetch`.
    var openSSLName: String { self == .sha256 ? "SHA2-256" : "SHA2-512" }
}

/// Fetched OpenSSL message digests, looked up once per process (`EVP_MD_fetch` is not free).
private enum FetchedDigests {
    nonisolated(unsafe) static let sha256: OpaquePointer = fetch("SHA2-256")
    nonisolated(unsafe) static let sha512: OpaquePointer = fetch("SHA2-512")

    static func fetch(_ name: String) -> OpaquePointer {
        guard let md = EVP_MD_fetch(nil, name, nil) else {
            fatalError("OpenSSL libcrypto has no \(name); is libssl3 installed correctly?")
        }
        return md
    }

    static func md(_ algorithm: SHA2Algorithm) -> OpaquePointer {
        switch algorithm {
        case .sha256: return sha256
        case .sha512: return sha512
        }
    }
}

/// A streaming SHA-256 or SHA-512 computation through OpenSSL's EVP interface.
///
/// Constant memory; feed any number of buffers with ``update(_:)``, then call ``finalize()``
/// once. Not thread-safe: use one hasher per thread.
public final class SHA2Hasher {
    public let algorithm: SHA2Algorithm
    private let context: OpaquePointer
    private var finalized = false

    public init(_ algorithm: SHA2Algorithm) {
        self.algorithm = algorithm
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        context = ctx
        guard EVP_DigestInit_ex(context, FetchedDigests.md(algorithm), nil) == 1 else {
            fatalError("EVP_DigestInit_ex(\(algorithm.openSSLName)) failed")
        }
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds `bytes` to the message.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finalized, "SHA2Hasher.update after finalize")
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard EVP_DigestUpdate(context, base, bytes.count) == 1 else {
            fatalError("EVP_DigestUpdate failed")
        }
    }

    /// Adds the bytes of `bytes` to the message.
    public func update(contentsOf bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Returns the digest. The hasher cannot be used afterwards.
    public func finalize() -> Digest {
        precondition(!finalized, "SHA2Hasher.finalize called twice")
        finalized = true
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer {
            EVP_DigestFinal_ex(context, $0.baseAddress, &length)
        }
        guard ok == 1, Int(length) == algorithm.digestLength else { fatalError("EVP_DigestFinal_ex failed") }
        return Digest(bytes: Array(out.prefix(Int(length))))
    }

    /// One-shot digest of a buffer.
    public static func hash(_ algorithm: SHA2Algorithm, _ bytes: [UInt8]) -> Digest {
        let hasher = SHA2Hasher(algorithm)
        hasher.update(contentsOf: bytes)
        return hasher.finalize()
    }
}

/// A message digest value with the encodings Blockyard prints.
public struct Digest: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Lower-case hexadecimal, as `sha256sum` prints it.
    public var hex: String { Hex.encode(bytes) }

    /// Standard base64 with padding, as electron-builder writes `sha512`.
    public var base64: String { Base64.encode(bytes) }

    public var description: String { hex }
}
