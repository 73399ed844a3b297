import BlockyardCore
@_spi(Testing) @testable import BlockyardStore
import BlockyardTestSupport
import Foundation
import Testing

@Suite("Chunk store on a full disk")
struct FullDiskTests {
    @Test func addOnAFullDiskSaysSoAndKeepsTheStore() throws {
        if let reason = TinyFilesystem.unavailableReason { try Test.cancel(Comment(rawValue: "skipped: \(reason)")) }
        let disk = try TinyFilesystem(bytes: 6 << 20)
        defer { disk.unmount() }
        let dir = try TemporaryDirectory("store")
        let store = try ChunkStore.initialize(at: disk.path + "/store").store
        let small = VectorInputs.randomBytes(seed: 80, count: 200_000)
        _ = try store.add(path: try dir.write("small", small), as: StoreFixtures.ref("app@1"))
        // Twice the filesystem, in 1 MiB batches: some commit before the disk is full.
        var options = AddOptions()
        options.batchBytes = 1 << 20
        let big = try dir.write("big", VectorInputs.randomBytes(seed: 81, count: 12 << 20))
        #expect {
            _ = try store.add(path: big, as: StoreFixtures.ref("app@2"), options: options)
        } throws: { error in
            guard case StoreError.lmdb(let cause, _) = error, cause.code == ENOSPC else { return false }
            let text = (error as! StoreError).description
            return text.contains("no space left on device") && !text.contains("Input/output error")
        }
        // The store is as it was: app@1 only, intact.
        #expect(try store.list().map(\.ref) == [StoreFixtures.ref("app@1")])
        let report = try store.verify(full: true)
        #expect(report.ok, "\(report.problems)")
        #expect(try StoreFixtures.bytes(store, "app@1") == small)
    }
}
