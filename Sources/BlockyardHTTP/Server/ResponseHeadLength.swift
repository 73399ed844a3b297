import HTTPTypes

/// The size in bytes of a response head as `blockyard serve` puts it on the wire: NIO's
/// HTTP/1.1 status line, one `name: value` line per field, and the empty line, with the `Date`
/// and `Server` fields Hummingbird adds to every response. A multipart body needs it to know
/// where in the connection's byte stream its part headers fall; a test compares it with the
/// bytes a client receives.
enum ResponseHeadLength {
    /// `Date: Thu, 01 Jan 2026 00:00:00 GMT`: an IMF-fixdate always has 29 characters.
    static let dateValueLength = 29

    static func of(status: HTTPResponse.Status, fields: HTTPFields, serverName: String?) -> Int {
        var length = "HTTP/1.1 ".utf8.count + String(status.code).utf8.count + 1 + status.reasonPhrase.utf8.count + 2
        for field in fields where field.name != .date && field.name != .server {
            length += field.name.rawName.utf8.count + 2 + field.value.utf8.count + 2
        }
        length += "Date".utf8.count + 2 + dateValueLength + 2
        if let serverName { length += "Server".utf8.count + 2 + serverName.utf8.count + 2 }
        return length + 2
    }
}
