/// Why a configuration or key file was refused: where (file, line, column, field) and what.
///
/// `description` is `FILE:LINE:COLUMN: FIELD: MESSAGE`, line and column 1-based, e.g.
/// `/etc/tern/ha.yaml:12:11: mobile-nodes[0].spi: 0 is not a valid SPI (1…268435455)`. Parts that are
/// not known are left out: an I/O error has no line, column or field (`/etc/tern/ha.yaml: cannot open: …`),
/// a YAML syntax error has no field. Messages never contain key material.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file as the caller named it (config or key file).
    public var file: String
    /// 1-based line, nil when not known (I/O errors).
    public var line: Int?
    /// 1-based column in Unicode scalars (as libyaml counts), nil when not known.
    public var column: Int?
    /// The field path, `mobile-nodes[0].spi`; empty when the error is about the file as a whole.
    public var field: String
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, field: String = "", message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !field.isEmpty { text += field + ": " }
        return text + message
    }
}
