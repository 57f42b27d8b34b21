import Foundation
import TernTestSupport

/// One scrape of a daemon's metrics endpoint, made from inside its namespace (scripts/testing/http_get.py).
struct Scrape {
    let status: Int
    let contentType: String
    let body: String

    init(_ lab: NetworkLab, in namespace: String, url: String) throws {
        let script = repositoryRoot.appendingPathComponent("scripts/testing/http_get.py").path
        let output = try lab.run(["python3", script, url], in: namespace, timeout: 10)
        let parts = output.components(separatedBy: "\n\n")
        let head = (parts.first ?? "").split(separator: "\n", omittingEmptySubsequences: false)
        status = Int(head.first ?? "") ?? 0
        contentType = head.count > 1 ? String(head[1]) : ""
        body = parts.dropFirst().joined(separator: "\n\n")
    }

    /// The value of one series, written exactly as exposed (`name{label="value",…}`); nil when absent.
    func value(_ series: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

/// The secrets a test knows of, and every way a log line could carry one: hex in either case, base64,
/// Swift's own `[UInt8]` description (what an interpolated key would print), and the first half of each
/// (a truncated dump).
struct Secrets {
    private(set) var spellings: [(what: String, text: String)] = []

    mutating func add(_ what: String, bytes: [UInt8]) {
        guard bytes.count >= 8 else { return }
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let base64 = Data(bytes).base64EncodedString()
        let half = Array(bytes.prefix(bytes.count / 2))
        let halfHex = half.map { String(format: "%02x", $0) }.joined()
        spellings += [
            ("\(what) (hex)", hex), ("\(what) (HEX)", hex.uppercased()), ("\(what) (base64)", base64),
            ("\(what) (base64 unpadded)", base64.replacingOccurrences(of: "=", with: "")),
            ("\(what) ([UInt8])", "\(bytes)"), ("\(what) (first half, [UInt8])", String("\(half)".dropLast()) + ","),
            ("\(what) (first half, hex)", halfHex), ("\(what) (first half, HEX)", halfHex.uppercased()),
        ]
    }

    /// A secret exactly as a file holds it (e.g. the PSK file's text).
    mutating func add(_ what: String, literal: String) {
        let trimmed = literal.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count >= 8 else { return }
        spellings.append(("\(what) (file content)", trimmed))
    }

    var isEmpty: Bool { spellings.isEmpty }

    /// Which secrets (and in which spelling) `text` contains.
    func leaks(in text: String) -> [String] {
        spellings.filter { text.contains($0.text) }.map(\.what)
    }
}

/// Hex digits (either case) as octets; nil for anything else.
func octets(hex text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var result: [UInt8] = []
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let octet = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
        result.append(octet)
    }
    return result
}

extension Secrets {
    /// Every key of a key file as the tests write them (`name: hex` lines).
    mutating func addKeyFile(_ path: String) throws {
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let key = octets(hex: parts[1]) { add("\(path) \(parts[0])", bytes: key) }
        }
    }

    /// Every PSK and SA key in the HAC's database (read with Python's sqlite3: no extra package).
    mutating func addControllerDatabase(_ lab: NetworkLab, path: String) throws {
        let query = """
            import sqlite3, sys
            db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
            for row in db.execute("SELECT identity, hex(psk) FROM mobile_node"):
                print("psk", row[0], row[1])
            for row in db.execute("SELECT spi, hex(mn_to_ha_ekey), hex(mn_to_ha_ikey), hex(ha_to_mn_ekey), hex(ha_to_mn_ikey) FROM security_association"):
                print("sa", *row)
            """
        let output = try lab.run(["python3", "-c", query, path])
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 3 else { continue }
            for (index, field) in fields.enumerated().dropFirst(2) {
                if let key = octets(hex: field) { add("\(fields[0]) \(fields[1]) #\(index - 1)", bytes: key) }
            }
        }
    }
}
