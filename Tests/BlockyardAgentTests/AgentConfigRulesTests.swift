@testable import BlockyardAgent
import Foundation
import Testing

/// The configuration rules the CLI and the REST API share: install paths, the keys the API may
/// change, and which `state.json` files are read.
@Suite("agent: configuration rules")
struct AgentConfigRulesTests {
    func refusal(_ body: () throws(AgentError) -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            #expect(error.kind == .usage)
            return error.message
        }
    }

    @Test func installPathSyntax() {
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/opt/app/App.AppImage") } == nil)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/") }?.contains("root directory") == true)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("app.bin") }?.contains("not an absolute path") == true)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/a/../b") }?.contains("write /b") == true)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/a/./b") } != nil)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/a//b") } != nil)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("/a/b/") } != nil)
        #expect(refusal { () throws(AgentError) in try InstallLocation.checkSyntax("") }?.contains("a path is required") == true)
        // config.json is held to the same rules.
        var config = AgentConfig(feed: "http://127.0.0.1/", installPath: "/x")
        #expect(refusal { () throws(AgentError) in try config.set("install_path", to: "/") }?.contains("install_path: / is the root") == true)
        #expect(config.installPath == "/x")
    }

    @Test func installPathOnDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("install-location-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(FileManager.default.createFile(atPath: dir + "/app.bin", contents: Data([1])))
        try FileManager.default.createSymbolicLink(atPath: dir + "/state-link", withDestinationPath: dir + "/state")
        func check(_ path: String, _ kind: AgentConfig.Kind = .file) -> String? {
            refusal { () throws(AgentError) in try InstallLocation.check(path, kind: kind, stateDirectory: dir + "/state") }
        }
        #expect(check(dir + "/app.bin") == nil)
        #expect(check(dir + "/new.bin") == nil)
        #expect(check(dir + "/bundle", .bundle) == nil)
        #expect(check(dir + "/app.bin", .bundle)?.contains("is a file, but kind is bundle") == true)
        #expect(check(dir + "/state")?.contains("overlaps the agent's state directory") == true)
        #expect(check(dir, .bundle)?.contains("overlaps") == true)
        #expect(check(dir + "/state/app.bin")?.contains("overlaps") == true)
        #expect(check(dir + "/state-link/app.bin")?.contains("overlaps") == true) // through a symbolic link
        #expect(check(dir + "/nope/app.bin")?.contains("does not exist") == true)
        #expect(check("/dev/null")?.contains("neither a regular file nor a directory") == true)
    }

    @Test func remoteKeys() {
        #expect(Set(AgentConfig.remoteKeys).union(AgentConfig.localKeys) == Set(AgentConfig.keys))
        #expect(Set(AgentConfig.remoteKeys).isDisjoint(with: AgentConfig.localKeys))
        for key in ["feed", "public_key", "install_path", "kind", "platform", "file", "health_cmd", "allow_downgrade"] {
            #expect(AgentConfig.localKeys.contains(key), "\(key)")
        }
        #expect(AgentConfig.refusedRemotely(["auto_check", "health_cmd", "colour", "feed"]) == ["feed", "health_cmd"])
        #expect(AgentConfig.refusedRemotely(["auto_check", "update_channel"]).isEmpty)
    }

    @Test func stateFormats() throws {
        func decode(_ text: String) -> AgentError? {
            do {
                _ = try AgentState.decode(Array(text.utf8), path: "/s/state.json", repair: "REPAIR")
                return nil
            } catch {
                return error
            }
        }
        let current = String(decoding: try AgentState.encoder.encode(AgentState()), as: UTF8.self)
        #expect(decode(current) == nil)
        let newer = decode(current.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 99"))
        #expect(newer?.kind == .invalidData)
        #expect(newer?.message.contains("has format version 99, but this blockyard reads only up to version 1; upgrade blockyard") == true)
        #expect(newer?.message.contains("REPAIR") == true)
        #expect(decode(current.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 0"))?.message.contains("unknown format version 0") == true)
        #expect(decode(current.replacingOccurrences(of: "\"format\" : 1,", with: ""))?.message.contains("no format version") == true)
        #expect(decode("[]")?.message.contains("not a JSON object") == true)
    }
}
