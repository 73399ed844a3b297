import BlockyardCore

/// Why an agent operation failed: one line for the user (also recorded as `last_error` in the
/// state, so `agent status` and the REST API show it) and the exit-code category.
public struct AgentError: Error, CustomStringConvertible, Equatable, Sendable {
    public typealias Kind = FailureKind

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
