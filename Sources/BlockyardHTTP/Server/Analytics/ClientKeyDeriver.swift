import BlockyardCore
import Foundation

/// Turns what identifies a client in a request into a ``ClientKey`` that cannot be turned
/// back: SHA-256 over a random 32-byte salt and either the `x-user-staging-id` (when sent)
/// or the peer address and `User-Agent`. The salt lives only in memory and is replaced at
/// every UTC midnight, so keys of different days cannot be linked, not even by this process.
final class ClientKeyDeriver: @unchecked Sendable {
    private let lock = NSLock()
    private var day = Int.min
    private var salt: [UInt8] = []

    /// The key for a request made at `time` (seconds since 1970).
    func key(stagingID: String?, address: String?, userAgent: String?, time: Double) -> ClientKey {
        let today = AnalyticsDate(seconds: time).day
        let salt: [UInt8] = lock.withLock {
            if today != day {
                day = today
                self.salt = (0..<32).map { _ in UInt8.random(in: 0...255) }
            }
            return self.salt
        }
        var input = salt
        if let stagingID {
            input.append(1)
            input += Array(stagingID.utf8.prefix(256))
        } else {
            input.append(2)
            input += Array((address ?? "").utf8.prefix(64))
            input.append(0)
            input += Array((userAgent ?? "").utf8.prefix(512))
        }
        let digest = SHA2Hasher.hash(.sha256, input).bytes
        func word(_ at: Int) -> UInt64 { digest[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        return ClientKey(high: word(0), low: word(8))
    }
}
