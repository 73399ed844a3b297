import BlockyardCore

/// The detached signature of a channel file: `latest.yml.sig` beside `latest.yml`, holding the
/// base64 Ed25519 signature (64 bytes, 88 characters) and a newline.
///
/// The signed message binds the file's name to its bytes, so a valid `beta.yml` cannot be
/// served as `latest.yml`, nor `latest-mac.yml` as `latest.yml`:
///
///     "blockyard-channel-file-signature-v1\n" + NAME + "\n" + FILE BYTES
///
/// To check one with OpenSSL 3:
///
///     { printf 'blockyard-channel-file-signature-v1\nlatest.yml\n'; cat latest.yml; } > msg
///     base64 -d latest.yml.sig > sig
///     openssl pkeyutl -verify -pubin -inkey release.key.pub -rawin -in msg -sigfile sig
public enum ChannelFileSignature {
    public static let context = "blockyard-channel-file-signature-v1"

    /// The bytes that are signed for channel file `name` with content `content`.
    public static func message(name: String, content: [UInt8]) -> [UInt8] {
        Array("\(context)\n\(name)\n".utf8) + content
    }

    /// The `.sig` file text for `content` published as `name`.
    public static func sign(name: String, content: [UInt8], key: MetadataSigningKey) -> String {
        Base64.encode(key.signature(for: message(name: name, content: content))) + "\n"
    }

    /// The raw signature in a `.sig` file; nil when it is not 64 bytes of base64.
    public static func parse(_ text: String) -> [UInt8]? {
        let trimmed = text.filter { !$0.isWhitespace }
        guard let bytes = Base64.decode(trimmed), bytes.count == 64 else { return nil }
        return bytes
    }
}
