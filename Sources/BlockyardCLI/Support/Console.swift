import Foundation

/// Writing to stdout and stderr without Foundation's non-Sendable globals.
enum Console {
    static func out(_ text: String, terminator: String = "\n") {
        write(1, text + terminator)
    }

    /// One line on stderr, prefixed with `blockyard: `.
    static func error(_ message: String) {
        write(2, "blockyard: \(message)\n")
    }

    static func warning(_ message: String) {
        write(2, "blockyard: warning: \(message)\n")
    }

    /// Advice on stderr (the message starts with its own `hint:`).
    static func note(_ message: String) {
        write(2, "blockyard: \(message)\n")
    }

    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var done = 0
            while done < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Encodes a value as pretty, key-sorted JSON for `--json` output.
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Human-readable sizes: 1023 B, 1.5 KiB, 2.0 GiB.
enum HumanSize {
    static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
