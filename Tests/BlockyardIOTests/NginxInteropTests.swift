import BlockyardCore
import BlockyardTestSupport
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Blockyard's multipart/byteranges framing against a real nginx: the parser reads nginx's
/// responses, and the encoder produces nginx's bytes exactly (apart from the boundary).
@Suite("nginx interop")
struct NginxInteropTests {
    static func get(_ url: String, range: String) throws -> (status: Int, contentType: String, body: [UInt8]) {
        var request = URLRequest(url: URL(string: url)!)
        request.setValue(range, forHTTPHeaderField: "Range")
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        nonisolated(unsafe) var result: (Int, String, [UInt8])?
        nonisolated(unsafe) var failure: Error?
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let http = response as? HTTPURLResponse {
                result = (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "", Array(data ?? Data()))
            }
            failure = error
            done.signal()
        }.resume()
        done.wait()
        if let failure { throw failure }
        return result!
    }

    @Test func multipartMatchesNginxByteForByte() throws {
        let dir = try TemporaryDirectory()
        let data = VectorInputs.randomBytes(seed: 12, count: 200_000)
        try dir.write("artifact.bin", data)
        let nginx = try NginxServer(root: dir.url.path)
        let want = [ByteRange(first: 0, last: 9), ByteRange(first: 100, last: 4195), ByteRange(first: 150_000, last: 199_999)]
        let response = try Self.get("\(nginx.baseURL)/artifact.bin", range: RangeHeader.value(for: want))
        #expect(response.status == 206)

        // Our parser reads nginx's body.
        var parser = try MultipartByterangesParser(contentType: response.contentType, expecting: want)
        var parts = want.map { _ in [UInt8]() }
        try response.body.withUnsafeBytes { try parser.feed($0) { part, _, bytes in parts[part] += bytes } }
        try parser.finish()
        for (i, r) in want.enumerated() { #expect(parts[i] == Array(data[r.range])) }

        // Our encoder writes the same bytes, given nginx's boundary.
        let boundary = String(response.contentType.split(separator: "=").last!)
        let encoder = MultipartByterangesEncoder(boundary: boundary, partContentType: "application/octet-stream",
                                                 totalSize: data.count, ranges: want)
        var ours: [UInt8] = []
        for (i, r) in want.enumerated() { ours += encoder.partHeader(i) + data[r.range] }
        ours += encoder.closing
        #expect(ours == response.body)
        #expect(encoder.contentType == response.contentType)
    }

    @Test func nginxMaxRangesOneAnswersFullBody() throws {
        // The defect electron-updater cannot detect in single-range mode: a 200 full body.
        let dir = try TemporaryDirectory()
        try dir.write("a.bin", VectorInputs.randomBytes(seed: 1, count: 10_000))
        let nginx = try NginxServer(root: dir.url.path, maxRanges: 1)
        let response = try Self.get("\(nginx.baseURL)/a.bin", range: "bytes=0-1, 5-6")
        #expect(response.status == 200)
        #expect(response.body.count == 10_000)
    }
}
