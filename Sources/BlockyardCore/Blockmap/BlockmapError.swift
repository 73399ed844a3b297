/// Why a blockmap could not be read or is not valid. Every case names what was wrong and
/// where, so a user can tell a truncated download from a wrong file.
public enum BlockmapError: Error, Equatable, Sendable, CustomStringConvertible {
    case notGzip(firstBytes: [UInt8])
    case compression(CompressionError)
    case invalidJSON(offset: Int, reason: String)
    case missingField(String)
    case wrongType(field: String, expected: String)
    case unsupportedVersion(String)
    case noFiles
    case lengthMismatch(file: String, checksums: Int, sizes: Int)
    case invalidChecksum(file: String, index: Int, value: String)
    case invalidSize(file: String, index: Int, value: String)
    case totalMismatch(expected: Int, actual: Int)
    case embeddedTooShort(fileSize: Int)
    case embeddedBadLength(length: Int, fileSize: Int)

    public var description: String {
        switch self {
        case .notGzip(let first):
            let hex = first.prefix(4).map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined(separator: " ")
            let hint = first.first == UInt8(ascii: "{") ? " (it looks like plain JSON; blockmaps are gzip'd JSON)" : ""
            return "not gzip data: starts with \(hex.isEmpty ? "nothing (empty input)" : hex), expected 1F 8B\(hint)"
        case .compression(let error):
            return error.description
        case .invalidJSON(let offset, let reason):
            return "invalid blockmap JSON at byte \(offset): \(reason)"
        case .missingField(let field):
            return "invalid blockmap: missing field \"\(field)\""
        case .wrongType(let field, let expected):
            return "invalid blockmap: \"\(field)\" must be \(expected)"
        case .unsupportedVersion(let version):
            return "unsupported blockmap version \"\(version)\" (expected \"2\", or \"1\")"
        case .noFiles:
            return "invalid blockmap: \"files\" is empty"
        case .lengthMismatch(let file, let checksums, let sizes):
            return "invalid blockmap: file \"\(file)\" has \(checksums) checksums but \(sizes) sizes"
        case .invalidChecksum(let file, let index, let value):
            return "invalid blockmap: file \"\(file)\" checksum #\(index) \"\(value.prefix(40))\" is not 24 characters of base64 (an 18-byte BLAKE2b)"
        case .invalidSize(let file, let index, let value):
            return "invalid blockmap: file \"\(file)\" size #\(index) (\(value)) is not a valid chunk size"
        case .totalMismatch(let expected, let actual):
            return "blockmap describes \(actual) bytes but the file size is \(expected)"
        case .embeddedTooShort(let size):
            return "no embedded blockmap: the file is only \(size) bytes (needs a 4-byte length trailer)"
        case .embeddedBadLength(let length, let size):
            return "no embedded blockmap: trailer says \(length) bytes of blockmap, but the file has only \(size) bytes"
        }
    }
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
