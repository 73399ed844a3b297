import Foundation

/// A small Markdown renderer for release notes, safe for untrusted input: every character of
/// the input reaches the output HTML-escaped, the only tags are the ones it generates, and
/// link targets are kept only for `http`, `https`, `mailto` and relative URLs (a
/// `javascript:` or `data:` link is shown as its text).
///
/// Blocks: ATX headings (shifted below the page's own headings), paragraphs, `-`/`*`/`+` and
/// numbered lists, `>` quotes, fenced code (```` ``` ````/`~~~`), horizontal rules.
/// Inline: `` `code` ``, `**strong**`/`__strong__`, `*em*`/`_em_`, `[text](url)`, `<url>`,
/// bare `http(s)://` URLs, backslash escapes. Raw HTML is shown as text.
enum SafeMarkdown {
    /// - Parameter headingLevel: the HTML level of a `#` heading (`##` is one more, up to 6).
    static func render(_ markdown: String, headingLevel: Int = 3) -> String {
        // Beyond this size the notes are shown as text: rendering stays linear-ish and cheap.
        guard markdown.utf8.count <= maxMarkdownBytes else { return "<pre>" + HTML.escape(markdown) + "</pre>\n" }
        let text = markdown.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The notes' biggest heading (`#` or `##` …) becomes `headingLevel`.
        var inFence = false
        var top = 6
        for line in lines {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if codeFence(trimmed) != nil { inFence.toggle() }
            if !inFence, let (level, _) = heading(trimmed) { top = min(top, level) }
        }
        return renderBlocks(lines, headingLevel: headingLevel - (top - 1), depth: 0)
    }

    static let maxMarkdownBytes = 64 * 1024
    /// Nesting of emphasis and link labels beyond this is shown as text.
    static let maxInlineDepth = 6

    private enum ListKind { case unordered, ordered }

    private static func renderBlocks(_ lines: [String], headingLevel: Int, depth: Int) -> String {
        var out = ""
        var paragraph: [String] = []
        var list: (kind: ListKind, items: [String])?
        var i = 0

        func flushParagraph() {
            if !paragraph.isEmpty {
                out += "<p>" + inline(paragraph.joined(separator: "\n")) + "</p>\n"
                paragraph = []
            }
        }
        func flushList() {
            if let current = list {
                let tag = current.kind == .ordered ? "ol" : "ul"
                out += "<\(tag)>" + current.items.map { "<li>" + inline($0) + "</li>" }.joined() + "</\(tag)>\n"
                list = nil
            }
        }

        while i < lines.count {
            let line = lines[i]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // Fenced code.
            if let fence = codeFence(trimmed) {
                flushParagraph()
                flushList()
                var code: [String] = []
                i += 1
                while i < lines.count && !lines[i].trimmingCharacters(in: .whitespaces).hasPrefix(fence) {
                    code.append(lines[i])
                    i += 1
                }
                i += 1  // the closing fence (or the end)
                out += "<pre><code>" + HTML.escape(code.joined(separator: "\n")) + "</code></pre>\n"
                continue
            }
            if trimmed.isEmpty {
                flushParagraph()
                flushList()
                i += 1
                continue
            }
            if let (level, title) = heading(trimmed) {
                flushParagraph()
                flushList()
                let h = min(6, max(1, headingLevel + level - 1))
                out += "<h\(h)>" + inline(title) + "</h\(h)>\n"
                i += 1
                continue
            }
            if isRule(trimmed) {
                flushParagraph()
                flushList()
                out += "<hr>\n"
                i += 1
                continue
            }
            if trimmed.hasPrefix(">") {
                flushParagraph()
                flushList()
                var quoted: [String] = []
                while i < lines.count {
                    let t = lines[i].trimmingCharacters(in: .whitespaces)
                    guard t.hasPrefix(">") else { break }
                    var rest = t.dropFirst()
                    if rest.first == " " { rest = rest.dropFirst() }
                    quoted.append(String(rest))
                    i += 1
                }
                let inner = depth < 4 ? renderBlocks(quoted, headingLevel: headingLevel, depth: depth + 1)
                                      : "<p>" + inline(quoted.joined(separator: "\n")) + "</p>\n"
                out += "<blockquote>\n" + inner + "</blockquote>\n"
                continue
            }
            if let (kind, item) = listItem(line) {
                flushParagraph()
                if let current = list, current.kind != kind { flushList() }
                if list == nil { list = (kind, []) }
                list!.items.append(item)
                i += 1
                continue
            }
            // A continuation line of a list item (indented), else paragraph text.
            if list != nil && line.hasPrefix("  ") {
                list!.items[list!.items.count - 1] += "\n" + trimmed
                i += 1
                continue
            }
            flushList()
            paragraph.append(trimmed)
            i += 1
        }
        flushParagraph()
        flushList()
        return out
    }

    private static func codeFence(_ line: String) -> String? {
        for fence in ["```", "~~~"] where line.hasPrefix(fence) { return fence }
        return nil
    }

    private static func heading(_ line: String) -> (Int, String)? {
        let hashes = line.prefix { $0 == "#" }.count
        guard (1...6).contains(hashes) else { return nil }
        let rest = line.dropFirst(hashes)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        var title = rest.trimmingCharacters(in: .whitespaces)
        // Closing hashes: "## Title ##".
        while title.hasSuffix("#") { title.removeLast() }
        return (hashes, title.trimmingCharacters(in: .whitespaces))
    }

    private static func isRule(_ line: String) -> Bool {
        let compact = line.filter { $0 != " " }
        guard compact.count >= 3, let first = compact.first, "-*_".contains(first) else { return false }
        return compact.allSatisfy { $0 == first }
    }

    private static func listItem(_ line: String) -> (ListKind, String)? {
        let indent = line.prefix { $0 == " " }.count
        guard indent <= 3 else { return nil }
        let rest = line.dropFirst(indent)
        if let marker = rest.first, "-*+".contains(marker), rest.dropFirst().first == " " {
            return (.unordered, rest.dropFirst(2).trimmingCharacters(in: .whitespaces))
        }
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        if (1...9).contains(digits.count) {
            let after = rest.dropFirst(digits.count)
            if let d = after.first, d == "." || d == ")", after.dropFirst().first == " " {
                return (.ordered, after.dropFirst(2).trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }

    // MARK: Inline

    /// Inline Markdown of one block's text.
    static func inline(_ text: String, allowLinks: Bool = true, depth: Int = 0) -> String {
        guard depth <= maxInlineDepth else { return HTML.escape(text) }
        let chars = Array(text)
        var out = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            // Backslash escape of punctuation.
            if c == "\\", i + 1 < chars.count, chars[i + 1].isPunctuation || chars[i + 1].isSymbol {
                out += HTML.escape(String(chars[i + 1]))
                i += 2
                continue
            }
            // Code span: a run of backticks up to the same run.
            if c == "`" {
                let run = countRun(chars, from: i, of: "`")
                if let close = findRun(chars, from: i + run, of: "`", length: run) {
                    let code = String(chars[(i + run)..<close]).trimmingCharacters(in: .whitespaces)
                    out += "<code>" + HTML.escape(code) + "</code>"
                    i = close + run
                    continue
                }
                out += HTML.escape(String(repeating: "`", count: run))
                i += run
                continue
            }
            // [text](url)
            if allowLinks, c == "[", let (label, url, end) = link(chars, from: i) {
                if let safe = safeURL(url) {
                    out += "<a href=\"" + HTML.escape(safe) + "\" rel=\"nofollow noopener noreferrer\">" + inline(label, allowLinks: false, depth: depth + 1) + "</a>"
                } else {
                    out += inline(label, allowLinks: false, depth: depth + 1)
                }
                i = end
                continue
            }
            // <https://…> autolink.
            if allowLinks, c == "<", let close = chars[(i + 1)...].firstIndex(of: ">") {
                let inside = String(chars[(i + 1)..<close])
                if !inside.contains(" "), inside.lowercased().hasPrefix("http://") || inside.lowercased().hasPrefix("https://"),
                   let safe = safeURL(inside) {
                    out += "<a href=\"" + HTML.escape(safe) + "\" rel=\"nofollow noopener noreferrer\">" + HTML.escape(inside) + "</a>"
                    i = close + 1
                    continue
                }
            }
            // Bare http(s):// URL.
            if allowLinks, c == "h", i == 0 || !(chars[i - 1].isLetter || chars[i - 1].isNumber) {
                let rest = String(chars[i..<min(chars.count, i + 8)]).lowercased()
                if rest.hasPrefix("http://") || rest.hasPrefix("https://") {
                    var end = i
                    while end < chars.count && !chars[end].isWhitespace && chars[end] != "<" && chars[end] != ">" { end += 1 }
                    // Trailing punctuation is not part of the URL.
                    while end > i && ".,;:!?)'\"".contains(chars[end - 1]) { end -= 1 }
                    let url = String(chars[i..<end])
                    if let safe = safeURL(url), url.count > 8 {
                        out += "<a href=\"" + HTML.escape(safe) + "\" rel=\"nofollow noopener noreferrer\">" + HTML.escape(url) + "</a>"
                        i = end
                        continue
                    }
                }
            }
            // Strong and emphasis.
            if c == "*" || c == "_" {
                let run = min(countRun(chars, from: i, of: c), 2)
                let intraword = c == "_" && i > 0 && (chars[i - 1].isLetter || chars[i - 1].isNumber)
                if !intraword, i + run < chars.count, !chars[i + run].isWhitespace,
                   let close = findRun(chars, from: i + run, of: c, length: run), close > i + run, !chars[close - 1].isWhitespace {
                    let tag = run == 2 ? "strong" : "em"
                    out += "<\(tag)>" + inline(String(chars[(i + run)..<close]), allowLinks: allowLinks, depth: depth + 1) + "</\(tag)>"
                    i = close + run
                    continue
                }
                out += HTML.escape(String(repeating: String(c), count: run))
                i += run
                continue
            }
            out += HTML.escape(String(c))
            i += 1
        }
        return out
    }

    private static func countRun(_ chars: [Character], from: Int, of c: Character) -> Int {
        var n = 0
        while from + n < chars.count && chars[from + n] == c { n += 1 }
        return n
    }

    /// The start of the next run of exactly `length` × `c` at or after `from`.
    private static func findRun(_ chars: [Character], from: Int, of c: Character, length: Int) -> Int? {
        var i = from
        while i < chars.count {
            if chars[i] == c {
                let run = countRun(chars, from: i, of: c)
                if run == length { return i }
                i += run
            } else {
                i += 1
            }
        }
        return nil
    }

    /// `[label](url "title")` starting at `from`: the label, the URL and the index after `)`.
    private static func link(_ chars: [Character], from: Int) -> (String, String, Int)? {
        var depth = 0
        var i = from
        var labelEnd: Int?
        while i < chars.count {
            if chars[i] == "\\" { i += 2; continue }
            if chars[i] == "[" { depth += 1 }
            if chars[i] == "]" {
                depth -= 1
                if depth == 0 { labelEnd = i; break }
            }
            i += 1
        }
        guard let labelEnd, labelEnd + 1 < chars.count, chars[labelEnd + 1] == "(" else { return nil }
        // The destination ends at the `)` that balances the `(` (CommonMark allows balanced
        // parentheses inside it).
        var close: Int?
        var parens = 0
        var j = labelEnd + 2
        while j < chars.count {
            if chars[j] == "\\" { j += 2; continue }
            if chars[j] == "(" { parens += 1 }
            if chars[j] == ")" {
                if parens == 0 { close = j; break }
                parens -= 1
            }
            j += 1
        }
        guard let close else { return nil }
        var target = String(chars[(labelEnd + 2)..<close]).trimmingCharacters(in: .whitespaces)
        // An optional title after the URL is dropped.
        if let space = target.firstIndex(of: " ") { target = String(target[..<space]) }
        if target.hasPrefix("<") && target.hasSuffix(">") { target = String(target.dropFirst().dropLast()) }
        return (String(chars[(from + 1)..<labelEnd]), target, close + 1)
    }

    /// The URL if it is safe to link to: `http`, `https`, `mailto`, or relative (no scheme).
    /// Control characters and whitespace anywhere (which browsers strip, turning
    /// `java\tscript:` into `javascript:`) make it unsafe.
    static func safeURL(_ raw: String) -> String? {
        let url = raw.trimmingCharacters(in: .whitespaces)
        guard !url.isEmpty, !url.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) }) else {
            return nil
        }
        if let colon = url.firstIndex(of: ":") {
            let scheme = url[..<colon]
            if !scheme.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
                guard ["http", "https", "mailto"].contains(scheme.lowercased()) else { return nil }
            }
        }
        return url
    }
}
