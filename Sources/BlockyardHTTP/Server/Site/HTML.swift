import BlockyardRelease
import Foundation

/// HTML text for untrusted strings (release names, notes, file names, versions).
enum HTML {
    /// Escapes text for element content and for double- or single-quoted attribute values.
    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Percent-encodes one URL path segment (an artifact name): everything but RFC 3986
    /// unreserved characters.
    static func pathSegment(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// `releases/{version}/{name}` with both segments encoded.
    static func artifactPath(version: String, name: String) -> String {
        "releases/\(pathSegment(version))/\(pathSegment(name))"
    }

    /// 1023 B, 1.5 KiB, 2.0 GiB.
    static func humanSize(_ bytes: Int) -> String {
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

/// Release timestamps (`2026-01-01T00:00:00.000Z`) in the forms the page and the API use.
enum SiteDate {
    /// GitHub's form: `2026-01-01T00:00:00Z` (whole seconds, UTC); nil when not a timestamp.
    static func github(_ timestamp: String) -> String? {
        guard let ms = ReleaseTimestamp.milliseconds(timestamp) else { return nil }
        return format(ms / 1000, pattern: .github)
    }

    /// For people: `2026-01-01 00:00 UTC`.
    static func human(_ timestamp: String) -> String? {
        guard let ms = ReleaseTimestamp.milliseconds(timestamp) else { return nil }
        return format(ms / 1000, pattern: .human)
    }

    private enum Pattern { case github, human }

    private static func format(_ seconds: Int64, pattern: Pattern) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let date = String(format: "%04d-%02d-%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
        switch pattern {
        case .github:
            return date + String(format: "T%02d:%02d:%02dZ", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        case .human:
            return date + String(format: " %02d:%02d UTC", Int(parts.tm_hour), Int(parts.tm_min))
        }
    }
}
