import BlockyardCore
@_spi(Testing) @testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

/// The store as seen by this process while the `blockyard` binary changes it.
@Suite("Store across processes")
struct CrossProcessTests {
    /// A reader opened before another process grew the map past the reader's size adopts
    /// the new size (MDB_MAP_RESIZED) instead of failing.
    @Test func readerAdoptsMapGrownByAnotherProcess() throws {
        let dir = try TemporaryDirectory("store-xproc")
        _ = try StoreFixtures.store(in: dir, mapSize: 1 << 20)
        let reader = try ChunkStore.open(at: dir.path("store"), access: .read)
        #expect(reader.mapInfo.mapSize == 1 << 20)
        let data = VectorInputs.randomBytes(seed: 70, count: 3 << 20)
        let add = try CommandRunner.run(["store", "add", try dir.write("big", data), "--name", "big", "--version", "1",
                                         "--path", dir.path("store")])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(try reader.list().map(\.ref.description) == ["big@1"])
        #expect(reader.mapInfo.mapSize > 3 << 20)
        #expect(try StoreFixtures.bytes(reader, "big@1") == data)
        #expect(try reader.verify().ok)
    }

    @Test func newerFormatIsRefusedByTheCommandLine() throws {
        let dir = try TemporaryDirectory("store-xproc")
        do {
            let store = try StoreFixtures.store(in: dir)
            try store.setFormatVersionForTesting(StoreFormat.version + 1)
        }
        for args in [["ls"], ["add", try dir.write("f", [1]), "--name", "f", "--version", "1"]] {
            let r = try CommandRunner.run(["store"] + args + ["--path", dir.path("store")])
            #expect(r.status == 65)
            #expect(r.stderr.contains("format version \(StoreFormat.version + 1)") && r.stderr.contains("upgrade blockyard"), "\(r.stderr)")
        }
    }
}
