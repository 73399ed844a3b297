import BlockyardCore
import Testing

@Suite("SHA-2 and BLAKE2b known answers")
struct DigestTests {
    static let sha256 = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ]
    static let sha512 = [
        ("", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ("abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    ]

    @Test func sha256KnownAnswers() {
        for (input, hex) in Self.sha256 {
            #expect(SHA2Hasher.hash(.sha256, Array(input.utf8)).hex == hex)
        }
    }

    @Test func sha512KnownAnswers() {
        for (input, hex) in Self.sha512 {
            #expect(SHA2Hasher.hash(.sha512, Array(input.utf8)).hex == hex)
        }
    }

    @Test func millionAndMebibyteOfA() {
        // NIST: one million 'a'.
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA2Hasher.hash(.sha256, million).hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(SHA2Hasher.hash(.sha512, million).hex == "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")
        let mebibyte = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        #expect(SHA2Hasher.hash(.sha256, mebibyte).hex == "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360")
        #expect(SHA2Hasher.hash(.sha512, mebibyte).hex == "f083039442f4a8cee2985641fa49cada4ca54d9bf3de03f9ef9f1f726dbb655d2a844aa1014e54fd239a5b3f37ae46d64744fee51ab2d7f5fe9b209e90b5ad52")
    }

    @Test func streamingEqualsOneShot() {
        let data = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let hasher = SHA2Hasher(.sha512)
        var i = 0
        var step = 1
        while i < data.count {
            let n = min(step, data.count - i)
            data[i..<(i + n)].withUnsafeBytes { hasher.update($0) }
            i += n
            step = step * 3 + 1
        }
        #expect(hasher.finalize() == SHA2Hasher.hash(.sha512, data))
    }

    @Test func base64OfSHA512() {
        #expect(SHA2Hasher.hash(.sha512, []).base64 == "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==")
    }

    @Test func blake2bKnownAnswers() {
        var full = BLAKE2b(digestLength: 64)
        Array("abc".utf8).withUnsafeBytes { full.update($0) }
        #expect(Hex.encode(full.finalize()) == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        let abc = Array("abc".utf8).withUnsafeBytes { ChunkChecksum(of: $0) }
        #expect(Hex.encode(abc.bytes) == "1748a777d8414171b3a34700dd037d955af5")
        #expect(ChunkChecksum.empty.base64 == "kaGkgagus/PmJi3hHxQtI0lF")
        let hello = Array(String(repeating: "hello world. ", count: 1024).utf8)
        #expect(hello.withUnsafeBytes { ChunkChecksum(of: $0) }.base64 == "gk9YMffcIDK/zN5PKnsMVapv")
    }

    /// Lengths around the 128-byte block size; values from Python's hashlib.blake2b(digest_size=18).
    @Test(arguments: [
        (0, "91a1a481a82eb3f3e6262de11f142d234945"), (1, "1a39c92d11018ff713603c8633e7746f65f4"),
        (127, "33625bfb160425ff9593f70c1d41b0e0111e"), (128, "7f2a4e653d51c45b7c32c4d29f9834eaa6f2"),
        (129, "7a2b94b88c9e025208356ad142ba9c91dc75"), (255, "a337b8ba3916e31893fd0138ee69ad0e915b"),
        (256, "18b6c7f35fad94e605bd581c50b032904cd5"), (257, "4b66a8fe2d9e7dc2776e16c4d9b17518c1ed"),
        (1000, "29672b390a8cccecd3bad56fb95eaacb8566"), (16384, "5b8cc74ac15afc4364fbd3f70b0155d125d5"),
    ])
    func blake2b18BlockBoundaries(length: Int, hex: String) {
        let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(Hex.encode(data.withUnsafeBytes { ChunkChecksum(of: $0) }.bytes) == hex)
        // Streaming in uneven pieces gives the same digest.
        for piece in [1, 5, 64, 127, 128, 129, 300] {
            var h = BLAKE2b(digestLength: 18)
            var i = 0
            while i < data.count {
                let n = min(piece, data.count - i)
                data[i..<(i + n)].withUnsafeBytes { h.update($0) }
                i += n
            }
            #expect(Hex.encode(h.finalize()) == hex, "piece size \(piece)")
        }
    }

    @Test func base64RoundTripAndRejects() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + n) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.decode("abc") == nil)
        #expect(Base64.decode("ab=c") == nil)
        #expect(Base64.decode("a*cd") == nil)
        #expect(Base64.decode("ab==abcd") == nil)
        #expect(ChunkChecksum(base64: "kaGkgagus/PmJi3hHxQtI0l") == nil)
        #expect(ChunkChecksum(base64: "kaGkgagus/PmJi3hHxQtI0l!") == nil)
        #expect(ChunkChecksum(base64: "kaGkgagus/PmJi3hHxQtI0lF") == .empty)
        #expect(Hex.decode("0aFf") == [0x0A, 0xFF])
        #expect(Hex.decode("0g") == nil)
    }
}
