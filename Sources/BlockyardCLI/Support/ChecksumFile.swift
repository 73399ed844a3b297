import ArgumentParser
import BlockyardCore
import BlockyardIO
import Foundation

/// The line format of GNU `sha256sum`/`sha512sum`: `HEX  NAME`, or `\HEX  ESCAPED` when the
/// name contains a backslash or newline; `HEX *NAME` marks binary mode (same digest).
enum ChecksumLine {
    static func format(hex: String, name: String) -> String {
        if name.contains("\\") || name.contains("\n") {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            return "\\\(hex)  \(escaped)"
        }
        return "\(hex)  \(name)"
    }

    /// Parses one line into (algorithm, expected hex, file name); nil if malformed.
    static func parse(_ line: Substring) -> (SHA2Algorithm, String, String)? {
        var text = line
        var escaped = false
        if text.hasPrefix("\\") {
            escaped = true
            text = text.dropFirst()
        }
        guard let space = text.firstIndex(of: " ") else { return nil }
        let hex = text[..<space].lowercased()
        let algorithm: SHA2Algorithm
        switch hex.count {
        case 64: algorithm = .sha256
        case 128: algorithm = .sha512
        default: return nil
        }
        guard Hex.decode(hex) != nil else { return nil }
        var rest = text[text.index(after: space)...]
        guard let marker = rest.first, marker == " " || marker == "*" else { return nil }
        rest = rest.dropFirst()
        guard !rest.isEmpty else { return nil }
        var name = String(rest)
        if escaped {
            name = name.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\\", with: "\\")
        }
        return (algorithm, hex, name)
    }
}

/// `blockyard hash --check`: verifies each listed file like `sha256sum -c`.
struct ChecksumFileVerifier {
    let sumsPath: String
    let quiet: Bool

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = try FileInput.readAll(path: sumsPath, limit: 64 << 20)
        } catch {
            Console.error(error.description)
            throw ExitStatus.forInput(error)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        var malformed = 0, mismatched = 0, unreadable = 0, checked = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let trimmed = line.hasSuffix("\r") ? line.dropLast() : line
            guard let (algorithm, expected, name) = ChecksumLine.parse(trimmed) else {
                malformed += 1
                Console.error("\(sumsPath): line \(number + 1): improperly formatted checksum line")
                continue
            }
            checked += 1
            do {
                let digests = try FileHasher.hash(path: name)
                let actual = algorithm == .sha256 ? digests.sha256.hex : digests.sha512.hex
                if actual == expected {
                    if !quiet { Console.out("\(name): OK") }
                } else {
                    mismatched += 1
                    Console.out("\(name): FAILED")
                }
            } catch {
                unreadable += 1
                Console.out("\(name): FAILED open or read")
                Console.error(error.description)
            }
        }
        if checked == 0 {
            Console.error("\(sumsPath): no properly formatted checksum lines found")
            throw ExitStatus.dataError
        }
        if malformed > 0 { Console.warning("\(malformed) line\(malformed == 1 ? " is" : "s are") improperly formatted") }
        if unreadable > 0 { Console.warning("\(unreadable) listed file\(unreadable == 1 ? "" : "s") could not be read") }
        if mismatched > 0 { Console.warning("\(mismatched) computed checksum\(mismatched == 1 ? "" : "s") did NOT match") }
        if mismatched > 0 || unreadable > 0 { throw ExitStatus.checkFailed }
    }
}

/// Size of a regular file, for progress bars (nil when unknown).
enum FileSize {
    static func of(_ path: String) -> Int? {
        guard path != "-" else { return nil }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(st.st_size)
    }
}
