internal import Yams

/// A YAML node with where it came from: the file, its field path and its position. The parsers walk
/// these and read every scalar as text, so YAML's implicit typing never decides what a value means.
struct YAMLField {
    let node: Node
    /// `tunnel.addresses[1]`; empty for the document root.
    let path: String
    let file: String
    /// Where the field is reported: the key that names it when there is one, else the node itself.
    let mark: Mark?

    func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: mark?.line, column: mark?.column, field: path, message: message)
    }

    /// An error at this field's value (rather than its key).
    func valueError(_ message: String) -> ConfigurationError {
        let at = node.mark ?? mark
        return ConfigurationError(file: file, line: at?.line, column: at?.column, field: path, message: message)
    }

    /// A plain `~`, `null` or nothing at all: YAML's way of saying "not set".
    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private var kind: String {
        switch node {
        case .scalar: isNull ? "nothing" : "a single value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The scalar's text, exactly as written (without quotes).
    func scalar(_ expected: String) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw valueError("expected \(expected), found \(kind)")
        }
        guard scalar.string.unicodeScalars.count <= ConfigurationLimits.maximumScalarLength else {
            throw valueError("value is longer than \(ConfigurationLimits.maximumScalarLength) characters")
        }
        return scalar.string
    }

    /// The entries of a list, at most `limit` of them.
    func sequence(_ expected: String, limit: Int) throws(ConfigurationError) -> [YAMLField] {
        guard case .sequence(let sequence) = node else {
            throw valueError("expected a list of \(expected), found \(kind)")
        }
        guard sequence.count <= limit else {
            throw valueError("\(sequence.count) entries; at most \(limit) are allowed")
        }
        return sequence.enumerated().map { index, element in
            YAMLField(node: element, path: "\(path)[\(index)]", file: file, mark: element.mark)
        }
    }

    /// The field as a mapping whose keys must all be in `allowed`; nothing (`tunnel:` alone) reads as
    /// an empty mapping so that the missing fields inside are what gets reported. With `echoUnknownKeys`
    /// false (key files) an unknown key is not repeated in the message, in case it is key material.
    func mapping(allowed: [String], echoUnknownKeys: Bool = true) throws(ConfigurationError) -> YAMLMapping {
        if isNull { return YAMLMapping(field: self, entries: []) }
        guard case .mapping(let mapping) = node else {
            throw valueError("expected a mapping of fields (\(allowed.joined(separator: ", "))), found \(kind)")
        }
        var entries: [YAMLMapping.Entry] = []
        for (keyNode, value) in mapping {
            let childPath: (String) -> String = { path.isEmpty ? $0 : "\(path).\($0)" }
            guard case .scalar(let keyScalar) = keyNode else {
                throw ConfigurationError(
                    file: file, line: keyNode.mark?.line, column: keyNode.mark?.column, field: path,
                    message: "field names must be plain words, found a complex key")
            }
            let key = keyScalar.string
            let keyField = YAMLField(node: value, path: childPath(key), file: file, mark: keyNode.mark ?? value.mark)
            guard allowed.contains(key) else {
                guard echoUnknownKeys else {
                    throw YAMLField(node: value, path: path, file: file, mark: keyField.mark)
                        .error(unknownFieldMessage(key, allowed: allowed, echo: false))
                }
                throw keyField.error(unknownFieldMessage(key, allowed: allowed, echo: true))
            }
            if let first = entries.first(where: { $0.key == key }) {
                throw keyField.error("duplicate field; already set at line \(first.field.mark?.line ?? 0)")
            }
            entries.append(.init(key: key, field: keyField))
        }
        return YAMLMapping(field: self, entries: entries)
    }
}

/// A mapping whose keys have been checked against the allowed ones.
struct YAMLMapping {
    struct Entry {
        let key: String
        let field: YAMLField
    }

    let field: YAMLField
    let entries: [Entry]

    /// The field, or nil when absent or null.
    func optional(_ key: String) -> YAMLField? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.field.isNull else { return nil }
        return entry.field
    }

    /// A nested mapping that must be present; written with nothing after it (`tunnel:`), it reads as
    /// empty, so that what is reported is the missing field inside it.
    func section(_ key: String, allowed: [String]) throws(ConfigurationError) -> YAMLMapping {
        if let entry = entries.first(where: { $0.key == key }) { return try entry.field.mapping(allowed: allowed) }
        _ = try required(key)
        preconditionFailure("required(_:) throws for an absent key")
    }

    /// The field; absent or null is an error at this mapping's position.
    func required(_ key: String) throws(ConfigurationError) -> YAMLField {
        if let value = optional(key) { return value }
        let path = field.path.isEmpty ? key : "\(field.path).\(key)"
        if let entry = entries.first(where: { $0.key == key }) {
            throw entry.field.error("a value is required")
        }
        throw ConfigurationError(
            file: field.file, line: field.mark?.line ?? 1, column: field.mark?.column ?? 1, field: path,
            message: "required field is missing")
    }
}

/// "unknown field", with a suggestion when one allowed name is close, else the list of allowed names.
/// With `echo` false the unknown name is not repeated (key files), only the suggestion.
func unknownFieldMessage(_ key: String, allowed: [String], echo: Bool) -> String {
    let suggestion = allowed.map { ($0, editDistance(key.lowercased(), $0, limit: 3)) }
        .filter { $0.1 <= max(1, min(3, $0.0.count / 3)) }
        .min { $0.1 < $1.1 }
    guard echo else {
        if let suggestion { return "unknown field (did you mean '\(suggestion.0)'?)" }
        return "unknown field (expected one of: \(allowed.joined(separator: ", ")))"
    }
    let name = shown(key)
    if let suggestion { return "unknown field \(name) (did you mean '\(suggestion.0)'?)" }
    return "unknown field \(name) (expected one of: \(allowed.joined(separator: ", ")))"
}

/// Levenshtein distance, giving up (returning `limit + 1`) for long or distant strings.
func editDistance(_ a: String, _ b: String, limit: Int) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    guard abs(a.count - b.count) <= limit, a.count <= 64, b.count <= 64 else { return limit + 1 }
    guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// Composes the one YAML document in `text`, mapping every Yams error to `path:line:column`.
/// `revealKey` says whether a duplicated key may be named (key files name only their four fields).
func composeDocument(
    _ text: String, path: String, revealKey: (String) -> Bool = { _ in true }
) throws(ConfigurationError) -> YAMLField {
    let root: Node?
    do {
        root = try Yams.compose(yaml: text)
    } catch let error as YamlError {
        throw syntaxError(error, text: text, path: path, revealKey: revealKey)
    } catch {
        throw ConfigurationError(file: path, message: "cannot parse YAML: \(error)")
    }
    guard let root else {
        throw ConfigurationError(file: path, line: 1, column: 1, message: "the file is empty; expected a mapping of fields")
    }
    return YAMLField(node: root, path: "", file: path, mark: root.mark)
}

private func syntaxError(
    _ error: YamlError, text: String, path: String, revealKey: (String) -> Bool
) -> ConfigurationError {
    func located(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> ConfigurationError {
        var message = problem
        if let context, !context.text.isEmpty, context.text.count <= 200 {
            message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        return ConfigurationError(file: path, line: mark.line, column: mark.column, message: "YAML syntax error: \(message)")
    }
    switch error {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
        return located(mark, problem, context)
    case .composer(let context, let problem, let mark, _):
        if problem == "but found another document" {
            return ConfigurationError(
                file: path, line: mark.line, column: mark.column,
                message: "YAML syntax error: only one document is allowed, found another")
        }
        return located(mark, problem, context)
    case .reader(let problem, let offset, _, _):
        let (line, column) = offset.map { position(ofCharacterOffset: $0, in: text) } ?? (nil, nil)
        return ConfigurationError(file: path, line: line, column: column, message: "cannot read the text: \(problem)")
    case .duplicatedKeysInMapping(let duplicates, let context):
        guard let key = duplicates.first, revealKey(key) else {
            return ConfigurationError(
                file: path, line: context.mark.line, column: context.mark.column, message: "duplicate field")
        }
        return duplicateKeyError(key: key, mark: context.mark, text: text, path: path)
    default:
        return ConfigurationError(file: path, message: "cannot parse YAML: \(error)")
    }
}

/// Yams refuses duplicated keys before handing out the tree, naming only the keys and one position.
/// To report the field path and the second occurrence, the first occurrence is renamed in a copy of the
/// text and the copy composed again; if that fails the error stays at the position Yams gave.
private func duplicateKeyError(key: String, mark: Mark, text: String, path: String) -> ConfigurationError {
    let fallback = ConfigurationError(
        file: path, line: mark.line, column: mark.column, field: key, message: "duplicate field")
    let marker = "zz-tern-duplicate-"
    guard mark.line > 0, let patched = inserting(marker, atLine: mark.line, column: mark.column, in: text),
        let root = try? Yams.compose(yaml: patched),
        let (mappingPath, mapping) = findMapping(in: root, path: "", where: { keyNode in
            keyNode.scalar?.string.hasPrefix(marker) == true
        })
    else { return fallback }
    let fieldPath = mappingPath.isEmpty ? key : "\(mappingPath).\(key)"
    guard let other = mapping.first(where: { $0.key.scalar?.string == key })?.key.mark else { return fallback }
    // The other occurrence's column shifted if it sits after the marker on the same line.
    let otherColumn = other.line == mark.line && other.column > mark.column ? other.column - marker.count : other.column
    let (first, second) =
        (other.line, otherColumn) < (mark.line, mark.column)
        ? ((other.line, otherColumn), (mark.line, mark.column)) : ((mark.line, mark.column), (other.line, otherColumn))
    return ConfigurationError(
        file: path, line: second.0, column: second.1, field: fieldPath,
        message: "duplicate field; already set at line \(first.0)")
}

/// Depth-first search for the mapping with a key satisfying `predicate`; bounded in nodes visited so
/// that a document of nested aliases cannot make it walk for long.
private func findMapping(
    in root: Node, path: String, where predicate: (Node) -> Bool
) -> (String, Node.Mapping)? {
    var budget = 100_000
    func walk(_ node: Node, _ path: String) -> (String, Node.Mapping)? {
        budget -= 1
        guard budget > 0 else { return nil }
        switch node {
        case .mapping(let mapping):
            if mapping.keys.contains(where: predicate) { return (path, mapping) }
            for (key, value) in mapping {
                let name = key.scalar?.string ?? "?"
                if let found = walk(value, path.isEmpty ? name : "\(path).\(name)") { return found }
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                if let found = walk(element, "\(path)[\(index)]") { return found }
            }
        case .scalar, .alias:
            break
        }
        return nil
    }
    return walk(root, path)
}

/// `text` with `insertion` placed before the Unicode scalar at 1-based `line`/`column`.
private func inserting(_ insertion: String, atLine line: Int, column: Int, in text: String) -> String? {
    var scalars = Array(text.unicodeScalars)
    var index = 0
    var currentLine = 1
    while currentLine < line {
        guard index < scalars.count else { return nil }
        if scalars[index] == "\r" {
            if index + 1 < scalars.count, scalars[index + 1] == "\n" { index += 1 }
            currentLine += 1
        } else if scalars[index] == "\n" {
            currentLine += 1
        }
        index += 1
    }
    index += column - 1
    guard index <= scalars.count else { return nil }
    scalars.insert(contentsOf: insertion.unicodeScalars, at: index)
    var result = String.UnicodeScalarView()
    result.append(contentsOf: scalars)
    return String(result)
}

/// 1-based line and column of the character `offset` characters into `text`.
private func position(ofCharacterOffset offset: Int, in text: String) -> (Int?, Int?) {
    var line = 1
    var column = 1
    for (index, character) in text.enumerated() {
        if index == offset { break }
        if character.isNewline {
            line += 1
            column = 1
        } else {
            column += character.unicodeScalars.count
        }
    }
    return (line, column)
}
