import BlockyardCore

/// electron-updater's staged-rollout decision (`isStagingMatch`), shared by the server
/// (`serve --staged-rollout`), the update client and the agent so all three agree on who is
/// in a rollout.
///
/// A user's staging id is a UUID; its position is `uint32BE(bytes 12…15)`, the last 8 hex
/// digits. The user is in a rollout of `percentage` iff `position / 0xffffffff <
/// percentage / 100`, computed in double precision as JavaScript does.
public enum StagingRule {
    /// The position of a canonical UUID (`8-4-4-4-12` hex digits, either case); nil otherwise.
    public static func position(uuid: String) -> UInt32? {
        let bytes = Array(uuid.utf8)
        guard bytes.count == 36 else { return nil }
        var value: UInt32 = 0
        for (i, b) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard b == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let digit = hexDigit(b) else { return nil }
            if i >= 28 { value = value << 4 | UInt32(digit) }
        }
        return value
    }

    /// The position of any staging id: a UUID's as above; for anything else (an id a user
    /// chose) bytes 12…15 of its SHA-256, so every string still gets a stable position.
    public static func position(stagingID: String) -> UInt32 {
        if let value = position(uuid: stagingID) { return value }
        let digest = SHA2Hasher.hash(.sha256, Array(stagingID.utf8)).bytes
        return UInt32(digest[12]) << 24 | UInt32(digest[13]) << 16 | UInt32(digest[14]) << 8 | UInt32(digest[15])
    }

    /// Whether `position` is inside a rollout of `percentage` (0…100).
    public static func isIncluded(position: UInt32, percentage: Int) -> Bool {
        Double(position) / Double(UInt32.max) < Double(percentage) / 100
    }

    private static func hexDigit(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
