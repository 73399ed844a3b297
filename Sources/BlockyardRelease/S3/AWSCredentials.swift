import Foundation

/// AWS credentials. `description` and reflection never show the secret or the session token,
/// so they cannot end up in logs or error messages by accident.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let accessKeyId: String
    let secretAccessKey: String
    let sessionToken: String?
    /// Where they came from (`environment`, or `~/.aws/credentials [profile]`).
    public let source: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, source: String = "given") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var hasSessionToken: Bool { sessionToken != nil }

    public var description: String { "AWS credentials \(accessKeyId) from \(source) (secret not shown)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["accessKeyId": accessKeyId, "source": source], displayStyle: .struct) }

    /// Credentials the way the AWS CLI finds them (the parts of its chain that need no network):
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`; otherwise the profile
    /// (`profile`, else `AWS_PROFILE`, else `default`) of the shared credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`).
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            profile: String? = nil) throws(ReleaseError) -> AWSCredentials {
        let id = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if profile == nil, let id, let secret {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: token, source: "environment")
        }
        if profile == nil, (id == nil) != (secret == nil) {
            throw ReleaseError(.usage, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        }
        let name = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let home = environment["HOME"] ?? NSHomeDirectory()
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ReleaseError(.usage, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a [\(name)] profile to \(file)")
        }
        let section = parseINI(text)[name] ?? [:]
        guard let fileId = section["aws_access_key_id"], let fileSecret = section["aws_secret_access_key"] else {
            throw ReleaseError(.usage, "no AWS credentials: \(file) has no [\(name)] profile with aws_access_key_id and aws_secret_access_key")
        }
        return AWSCredentials(accessKeyId: fileId, secretAccessKey: fileSecret, sessionToken: section["aws_session_token"],
                              source: "\(file) [\(name)]")
    }

    /// Sections of an AWS-style INI file: `[name]` headers, `key = value` lines, `#`/`;` comments.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}
