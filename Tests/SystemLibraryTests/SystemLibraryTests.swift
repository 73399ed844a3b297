import CArchive
import CLMDB
import COpenSSLCrypto
import CZlib
import CZstd
import Foundation
import Testing

/// Each C library target links and works from Swift.
@Suite("System libraries")
struct SystemLibraryTests {
    @Test func zlibGzipRoundTrip() {
        var input = Array("hello hello hello hello".utf8)
        var stream = z_stream()
        #expect(czlib_deflateInit2(&stream, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK)
        var out = [UInt8](repeating: 0, count: 256)
        let produced = input.withUnsafeMutableBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o -> Int in
                stream.next_in = i.baseAddress
                stream.avail_in = UInt32(i.count)
                stream.next_out = o.baseAddress
                stream.avail_out = UInt32(o.count)
                #expect(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                return o.count - Int(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        #expect(out[0] == 0x1F && out[1] == 0x8B)
        #expect(crc32(0, input, UInt32(input.count)) != 0)
        #expect(produced > 18)
    }

    @Test func zstdRoundTrip() {
        #expect(ZSTD_versionNumber() >= 10400, "ZSTD_findFrameCompressedSize needs libzstd 1.4")
        let input = Array(String(repeating: "zstd ", count: 200).utf8)
        var frame = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let n = ZSTD_compress(&frame, frame.count, input, input.count, 1)
        #expect(ZSTD_isError(n) == 0 && n < input.count)
        #expect(ZSTD_getFrameContentSize(frame, n) == UInt64(input.count))
        #expect(ZSTD_getFrameContentSize(input, input.count) == czstd_contentsize_error())
        var out = [UInt8](repeating: 0, count: input.count)
        #expect(ZSTD_decompress(&out, out.count, frame, n) == input.count)
        #expect(out == input)
    }

    @Test func openSSLSHA512() {
        let md = EVP_MD_fetch(nil, "SHA2-512", nil)
        #expect(md != nil)
        let ctx = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(ctx); EVP_MD_free(md) }
        #expect(EVP_DigestInit_ex(ctx, md, nil) == 1)
        #expect(EVP_DigestUpdate(ctx, "abc", 3) == 1)
        var out = [UInt8](repeating: 0, count: 64)
        var n: UInt32 = 0
        #expect(EVP_DigestFinal_ex(ctx, &out, &n) == 1)
        #expect(n == 64)
        #expect(out.prefix(4) == [0xdd, 0xaf, 0x35, 0xa1])
    }

    @Test func lmdbPutGet() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var env: OpaquePointer?
        #expect(mdb_env_create(&env) == 0)
        defer { mdb_env_close(env) }
        #expect(mdb_env_set_mapsize(env, 1 << 20) == 0)
        #expect(mdb_env_open(env, dir.path, 0, 0o644) == 0)
        var txn: OpaquePointer?
        #expect(mdb_txn_begin(env, nil, 0, &txn) == 0)
        var dbi: MDB_dbi = 0
        #expect(mdb_dbi_open(txn, nil, 0, &dbi) == 0)
        var keyBytes = Array("key".utf8), valueBytes = Array("value".utf8)
        let rc = keyBytes.withUnsafeMutableBytes { k in
            valueBytes.withUnsafeMutableBytes { v -> Int32 in
                var key = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                var value = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                return mdb_put(txn, dbi, &key, &value, 0)
            }
        }
        #expect(rc == 0)
        #expect(mdb_txn_commit(txn) == 0)
        #expect(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn) == 0)
        let got: String? = keyBytes.withUnsafeMutableBytes { k in
            var key = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
            var value = MDB_val()
            guard mdb_get(txn, dbi, &key, &value) == 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size), as: UTF8.self)
        }
        mdb_txn_abort(txn)
        #expect(got == "value")
    }

    @Test func libarchiveWritesAndReadsTar() throws {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var used = 0
        let writer = archive_write_new()
        #expect(archive_write_set_format_pax_restricted(writer) == ARCHIVE_OK)
        #expect(archive_write_open_memory(writer, &buffer, buffer.count, &used) == ARCHIVE_OK)
        let entry = archive_entry_new()
        archive_entry_set_pathname(entry, "dir/model.bin")
        archive_entry_set_size(entry, 5)
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG: a cast macro Swift cannot import
        archive_entry_set_perm(entry, 0o644)
        #expect(archive_write_header(writer, entry) == ARCHIVE_OK)
        #expect(archive_write_data(writer, "12345", 5) == 5)
        archive_entry_free(entry)
        archive_write_close(writer)
        archive_write_free(writer)

        let reader = archive_read_new()
        defer { archive_read_free(reader) }
        archive_read_support_format_all(reader)
        archive_read_support_filter_all(reader)
        #expect(archive_read_open_memory(reader, buffer, used) == ARCHIVE_OK)
        var header: OpaquePointer?
        #expect(archive_read_next_header(reader, &header) == ARCHIVE_OK)
        #expect(String(cString: archive_entry_pathname(header)) == "dir/model.bin")
        var data = [UInt8](repeating: 0, count: 16)
        #expect(archive_read_data(reader, &data, 16) == 5)
        #expect(Array(data.prefix(5)) == Array("12345".utf8))
    }
}
