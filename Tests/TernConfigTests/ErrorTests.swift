import TernConfig
import TernProtocol
import Testing

/// Every class of error, with the exact `file:line:column: field: message` it produces.
@Suite("Configuration errors")
struct ErrorTests {
    static let haPath = "/etc/tern/ha.yaml"
    static let mnPath = "/etc/tern/mn.yaml"
    static let keys = FakeKeyFiles(files: [
        "/etc/tern/mn0.keys": FakeKeyFiles.gcm128AndSHA1,
        "/etc/tern/short.keys": """
            # one key too short
            mn-to-ha-ekey: 000102030405060708090a0b0c0d0e0f10111213
            ha-to-mn-ekey: 202122232425262728292a2b2c2d2e2f
            """,
        "/etc/tern/nohmac.keys": """
            mn-to-ha-ekey: 000102030405060708090a0b0c0d0e0f
            ha-to-mn-ekey: 202122232425262728292a2b2c2d2e2f
            """,
    ])

    /// A valid HA config with `node` as the first Mobile Node's lines (indented 4) and a second node.
    static func homeAgent(_ node: String = "", second: String = "", top: String = "") -> String {
        """
        tunnel:
          addresses: ["192.0.2.1/24", "2001:db8:1::1/64"]
        mobile-nodes:
          - name: mn0
            spi: 4660
            keys: mn0.keys
            home-addresses: ["192.0.2.10", "2001:db8:1::10"]
        \(node)  - name: mn1
            spi: 0x1235
            keys: mn0.keys
            home-addresses: ["192.0.2.11"]
        \(second)\(top)
        """
    }

    static func mobileNode(suite: String = "\"{13,01}\"", keys: String = "mn0.keys", extra: String = "") -> String {
        """
        home-agent:
          address: 198.18.0.1
        tunnel:
          home-addresses: ["192.0.2.10", "2001:db8:1::10"]
          routes: ["198.51.100.0/24"]
        security-association:
          spi: 4660
          suite: \(suite)
          keys: \(keys)
        \(extra)
        """
    }

    static func haError(_ text: String) -> String {
        configurationError { () throws(ConfigurationError) in
            _ = try HomeAgentConfiguration.parse(text, path: haPath, keyLoader: keys.load)
        }?.description ?? "no error"
    }

    static func mnError(_ text: String) -> String {
        configurationError { () throws(ConfigurationError) in
            _ = try MobileNodeConfiguration.parse(text, path: mnPath, keyLoader: keys.load)
        }?.description ?? "no error"
    }

    @Test("The base documents are valid")
    func baseIsValid() throws {
        _ = try HomeAgentConfiguration.parse(Self.homeAgent(), path: Self.haPath, keyLoader: Self.keys.load)
        _ = try MobileNodeConfiguration.parse(Self.mobileNode(), path: Self.mnPath, keyLoader: Self.keys.load)
    }

    static let homeAgentErrorsCases: [(String, String)] = [
        // A bad SPI: the example from the design brief.
        (homeAgent(second: "    spi: 0\n").replacing("    spi: 0x1235\n", with: ""),
         "/etc/tern/ha.yaml:11:10: mobile-nodes[1].spi: 0 is not a valid SPI (1…268435455)"),
        (homeAgent().replacing("spi: 4660", with: "spi: 268435456"),
         "/etc/tern/ha.yaml:5:10: mobile-nodes[0].spi: 268435456 is not a valid SPI (1…268435455)"),
        (homeAgent().replacing("spi: 4660", with: "spi: 0x"),
         "/etc/tern/ha.yaml:5:10: mobile-nodes[0].spi: 0x is not a valid SPI (1…268435455): write a decimal integer, or hex with 0x"),
        (homeAgent().replacing("spi: 4660", with: "spi: 04660"),
         "/etc/tern/ha.yaml:5:10: mobile-nodes[0].spi: 04660 is ambiguous (octal?): write decimal without leading zeros, or hex with 0x"),
        // Duplicate SPI across Mobile Nodes (4660 == 0x1234).
        (homeAgent().replacing("spi: 0x1235", with: "spi: 0x1234"),
         "/etc/tern/ha.yaml:9:10: mobile-nodes[1].spi: SPI 4660 is already used by mobile-nodes[0] (mn0)"),
        (homeAgent().replacing("name: mn1", with: "name: mn0"),
         "/etc/tern/ha.yaml:8:11: mobile-nodes[1].name: mn0 is already the name of mobile-nodes[0]"),
        (homeAgent().replacing("[\"192.0.2.11\"]", with: "[\"192.0.2.12\", \"2001:db8:1::10\"]"),
         "/etc/tern/ha.yaml:11:36: mobile-nodes[1].home-addresses[1]: 2001:db8:1::10 is already a home address of mobile-nodes[0] (mn0)"),
        (homeAgent().replacing("[\"192.0.2.11\"]", with: "[\"192.0.2.1\"]"),
         "/etc/tern/ha.yaml:11:22: mobile-nodes[1].home-addresses[0]: 192.0.2.1 is the home agent's own address (tunnel.addresses[0])"),
        (homeAgent().replacing("[\"192.0.2.11\"]", with: "[\"192.0.2.11\", 192.0.2.11]"),
         "/etc/tern/ha.yaml:11:36: mobile-nodes[1].home-addresses[1]: duplicate of entry [0]"),
        // Unknown keys, with and without a suggestion.
        (homeAgent(top: "mobile-node: []\n"),
         "/etc/tern/ha.yaml:12:1: mobile-node: unknown field mobile-node (did you mean 'mobile-nodes'?)"),
        (homeAgent(second: "    colour: blue\n"),
         "/etc/tern/ha.yaml:12:5: mobile-nodes[1].colour: unknown field colour (expected one of: name, spi, suite, scope, keys, home-addresses)"),
        // Duplicate keys: reported at the second occurrence with the full path.
        (homeAgent(second: "    spi: 77\n"),
         "/etc/tern/ha.yaml:12:5: mobile-nodes[1].spi: duplicate field; already set at line 9"),
        (homeAgent(top: "tunnel: {}\n"),
         "/etc/tern/ha.yaml:12:1: tunnel: duplicate field; already set at line 1"),
        // Bad suite, bad address, bad prefix.
        (homeAgent(second: "    suite: \"{13,99}\"\n"),
         "/etc/tern/ha.yaml:12:12: mobile-nodes[1].suite: ciphersuite {13,99} is not supported (supported: {00,02},{00,3B},{00,0A},{00,2F},{00,3C},{13,01},{13,02},{13,03})"),
        (homeAgent(second: "    suite: {13,01}\n"),
         "/etc/tern/ha.yaml:12:12: mobile-nodes[1].suite: write the suite in quotes, e.g. suite: \"{13,01}\" (unquoted braces are a YAML mapping)"),
        (homeAgent(second: "    suite: \"13,01\"\n"),
         "/etc/tern/ha.yaml:12:12: mobile-nodes[1].suite: ciphersuite '13,01' is not of the form {00,2F}"),
        (homeAgent().replacing("[\"192.0.2.11\"]", with: "[192.0.2.256]"),
         "/etc/tern/ha.yaml:11:22: mobile-nodes[1].home-addresses[0]: 192.0.2.256 is not an IPv4 or IPv6 address"),
        (homeAgent().replacing("[\"192.0.2.11\"]", with: "[192.0.2.11/32]"),
         "/etc/tern/ha.yaml:11:22: mobile-nodes[1].home-addresses[0]: 192.0.2.11/32 is a prefix; expected an address without /length"),
        (homeAgent().replacing("\"2001:db8:1::1/64\"", with: "\"2001:db8:1::1/129\""),
         "/etc/tern/ha.yaml:2:31: tunnel.addresses[1]: 2001:db8:1::1/129 has an invalid prefix length (0…128)"),
        (homeAgent().replacing("\"2001:db8:1::1/64\"", with: "fe80::1%eth0"),
         "/etc/tern/ha.yaml:2:31: tunnel.addresses[1]: fe80::1%eth0 is not an IPv4 or IPv6 prefix (address/length)"),
        // Missing required fields and empty lists.
        (homeAgent().replacing("    keys: mn0.keys\n    home-addresses: [\"192.0.2.11\"]", with: "    home-addresses: [\"192.0.2.11\"]"),
         "/etc/tern/ha.yaml:8:5: mobile-nodes[1].keys: required field is missing"),
        ("tunnel:\n  addresses: [192.0.2.1/24]\n",
         "/etc/tern/ha.yaml:1:1: mobile-nodes: required field is missing"),
        ("tunnel:\nmobile-nodes: []\n",
         "/etc/tern/ha.yaml:1:1: tunnel.addresses: required field is missing"),
        ("tunnel:\n  addresses: []\nmobile-nodes: []\n",
         "/etc/tern/ha.yaml:2:14: tunnel.addresses: at least one entry is required"),
        ("tunnel:\n  addresses: 192.0.2.1/24\nmobile-nodes: []\n",
         "/etc/tern/ha.yaml:2:14: tunnel.addresses: expected a list of prefixes, found a single value"),
        ("tunnel:\n  addresses: [192.0.2.1/24]\nmobile-nodes: []\n",
         "/etc/tern/ha.yaml:3:15: mobile-nodes: at least one mobile node is required"),
        (homeAgent().replacing("keys: mn0.keys", with: "keys:"),
         "/etc/tern/ha.yaml:6:5: mobile-nodes[0].keys: a value is required"),
        // Names, ports, MTU, listen addresses.
        (homeAgent().replacing("name: mn1", with: "name: \"mn 1\""),
         "/etc/tern/ha.yaml:8:11: mobile-nodes[1].name: 'mn 1' is not a valid name (1–64 of A–Z, a–z, 0–9, '.', '_', '-')"),
        (homeAgent(top: "listen:\n  port: 70000\n"),
         "/etc/tern/ha.yaml:13:9: listen.port: 70000 is not a valid port (1…65535)"),
        (homeAgent(top: "listen:\n  addresses: [192.0.2.1, \"::\", 198.18.0.1]\n"),
         "/etc/tern/ha.yaml:13:32: listen.addresses[2]: only one IPv4 listen address is supported; entry [0] is one already"),
        (homeAgent().replacing("tunnel:\n", with: "tunnel:\n  mtu: 1200\n"),
         "/etc/tern/ha.yaml:2:8: tunnel.mtu: 1200 is too small: the tunnel carries IPv6, which needs at least 1280 (RFC 8200 §5)"),
        (homeAgent().replacing("tunnel:\n", with: "tunnel:\n  mtu: 9001\n"),
         "/etc/tern/ha.yaml:2:8: tunnel.mtu: 9001 is not a valid MTU (576…9000)"),
        (homeAgent().replacing("tunnel:\n", with: "tunnel:\n  name: a-very-long-name0\n"),
         "/etc/tern/ha.yaml:2:9: tunnel.name: a-very-long-name0 is not a valid interface name (1–15 of A–Z, a–z, 0–9, '.', '_', '-')"),
        // Whole-document errors.
        ("", "/etc/tern/ha.yaml:1:1: the file is empty; expected a mapping of fields"),
        ("- a\n- b\n", "/etc/tern/ha.yaml:1:1: expected a mapping of fields (listen, tunnel, mobile-nodes, hac, binding, status-file, control-socket, state-directory, gateway, metrics, log-level), found a list"),
        ("tunnel: {}\n---\ntunnel: {}\n", "/etc/tern/ha.yaml:2:1: YAML syntax error: only one document is allowed, found another"),
        // metrics.listen: address:port, IPv6 in quoted brackets.
        (homeAgent(top: "metrics:\n  listen: 127.0.0.1\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: 127.0.0.1 has no port; write address:port, e.g. 127.0.0.1:9587 or \"[::1]:9587\" (quoted)"),
        (homeAgent(top: "metrics:\n  listen: 127.0.0.1:0\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: 0 is not a valid port (1…65535)"),
        (homeAgent(top: "metrics:\n  listen: 127.0.0.1:65536\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: 65536 is not a valid port (1…65535)"),
        (homeAgent(top: "metrics:\n  listen: localhost:9587\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: localhost is not an IPv4 address"),
        (homeAgent(top: "metrics:\n  listen: \"::1:9587\"\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: ::1:9587: put an IPv6 address in brackets; write address:port, e.g. 127.0.0.1:9587 or \"[::1]:9587\" (quoted)"),
        (homeAgent(top: "metrics:\n  listen: \"[::1]\"\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: [::1] is not address:port; write address:port, e.g. 127.0.0.1:9587 or \"[::1]:9587\" (quoted)"),
        (homeAgent(top: "metrics:\n  listen: \"[192.0.2.1]:9587\"\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: 192.0.2.1 is not an IPv6 address"),
        (homeAgent(top: "metrics:\n  listen: [\"::1\"]\n"),
         "/etc/tern/ha.yaml:13:11: metrics.listen: quote an IPv6 address and port: \"[::1]:9587\" (unquoted brackets are a YAML list)"),
        (homeAgent(top: "metrics:\n  port: 9587\n"),
         "/etc/tern/ha.yaml:13:3: metrics.port: unknown field port (expected one of: listen)"),
        (homeAgent(top: "metrics: on\n"),
         "/etc/tern/ha.yaml:12:10: metrics: expected a mapping of fields (listen), found a single value"),
    ]

    @Test("Home Agent config errors", arguments: homeAgentErrorsCases)
    func homeAgentErrors(text: String, expected: String) {
        #expect(Self.haError(text) == expected, "\(text)")
    }

    static let mobileNodeErrorsCases: [(String, String)] = [
        (mobileNode(suite: "\"{00,2F}\"", keys: "nohmac.keys"),
         "/etc/tern/nohmac.keys:1:1: mn-to-ha-ikey: required field is missing: suite {00,2F} (AES_128_CBC_SHA) needs 20 octets"),
        (mobileNode(keys: "short.keys"),
         "/etc/tern/short.keys:3:16: ha-to-mn-ekey: key is 16 octets; suite {13,01} (AES_128_GCM_SHA256) needs 20 octets (a 16-octet key followed by a 4-octet salt)"),
        (mobileNode(keys: "missing.keys"),
         "/etc/tern/mn.yaml:9:9: security-association.keys: /etc/tern/missing.keys: cannot open key file: No such file or directory (errno 2)"),
        (mobileNode().replacing("address: 198.18.0.1", with: "address: 198.18.0"),
         "/etc/tern/mn.yaml:2:12: home-agent.address: 198.18.0 is not an IPv4 or IPv6 address"),
        (mobileNode().replacing("address: 198.18.0.1", with: "address: \"::\""),
         "/etc/tern/mn.yaml:2:12: home-agent.address: :: is not a Home Agent's address"),
        (mobileNode().replacing("198.51.100.0/24", with: "198.51.100.1/24"),
         "/etc/tern/mn.yaml:5:12: tunnel.routes[0]: 198.51.100.1/24 has host bits set; did you mean 198.51.100.0/24?"),
        (mobileNode().replacing("198.51.100.0/24", with: "198.51.100.0/33"),
         "/etc/tern/mn.yaml:5:12: tunnel.routes[0]: 198.51.100.0/33 has an invalid prefix length (0…32)"),
        (mobileNode().replacing("  home-addresses: [\"192.0.2.10\", \"2001:db8:1::10\"]\n", with: ""),
         "/etc/tern/mn.yaml:3:1: tunnel.home-addresses: required field is missing"),
        (mobileNode().replacing("home-addresses", with: "home-address"),
         "/etc/tern/mn.yaml:4:3: tunnel.home-address: unknown field home-address (did you mean 'home-addresses'?)"),
        (mobileNode(extra: "keepalive: 3601\n"),
         "/etc/tern/mn.yaml:10:12: keepalive: 3601 is not a valid keepalive interval (0…3600 seconds)"),
        (mobileNode(extra: "keepalive: -1\n"),
         "/etc/tern/mn.yaml:10:12: keepalive: -1 is not a valid keepalive interval (0…3600 seconds): write a decimal integer, or hex with 0x"),
        (mobileNode(extra: "security-association: {}\n"),
         "/etc/tern/mn.yaml:10:1: security-association: duplicate field; already set at line 6"),
        (mobileNode().replacing("  spi: 4660\n", with: "  spi: 4660\n  spi: 4661\n"),
         "/etc/tern/mn.yaml:8:3: security-association.spi: duplicate field; already set at line 7"),
        (mobileNode().replacing("  spi: 4660\n", with: "  scope: 2\n  spi: 1\n"),
         "/etc/tern/mn.yaml:7:10: security-association.scope: 2 is not a valid SA scope (0…1)"),
        (mobileNode(extra: "tunnel-mtu: 1400\n"),
         "/etc/tern/mn.yaml:10:1: tunnel-mtu: unknown field tunnel-mtu (expected one of: home-agent, hac, tunnel, security-association, keepalive, binding, status-file, control-socket, state-directory, metrics, log-level)"),
        (mobileNode(extra: "binding: {lifetime: 3}\n"),
         "/etc/tern/mn.yaml:10:21: binding.lifetime: 3 is not a valid binding lifetime (4…262140 seconds)"),
        (mobileNode(extra: "binding: {lifetim: 30}\n"),
         "/etc/tern/mn.yaml:10:11: binding.lifetim: unknown field lifetim (did you mean 'lifetime'?)"),
        (mobileNode().replacing("  address: 198.18.0.1\n", with: "  address: 198.18.0.1\n  addresses: [198.18.0.1]\n"),
         "/etc/tern/mn.yaml:3:3: home-agent.addresses: give either address or addresses, not both"),
        (mobileNode().replacing("  address: 198.18.0.1\n", with: "  addresses: [198.18.0.1, 198.18.0.2]\n"),
         "/etc/tern/mn.yaml:2:27: home-agent.addresses[1]: only one IPv4 Home Agent address is supported"),
        (mobileNode().replacing("  address: 198.18.0.1\n", with: "  addresses: [198.18.0.1, \"::1\", \"::2\"]\n"),
         "/etc/tern/mn.yaml:2:14: home-agent.addresses: 3 entries; at most 2 are allowed"),
        (mobileNode(extra: "hac: {address: 198.18.0.1, identity: a@b, psk-file: a.psk, ca-file: ca.pem}\n"),
         "/etc/tern/mn.yaml:1:1: home-agent: the home agent comes from the HAC (hac:); remove home-agent"),
        ("hac: {address: 198.18.0.1, identity: a@b, psk-file: a.psk}\ntunnel: {}\n",
         "/etc/tern/mn.yaml:1:1: hac: give exactly one of ca-file and pinned-certificate: the HAC's certificate must be verified"),
        ("hac: {address: 198.18.0.1, identity: a b, psk-file: a.psk, ca-file: c}\ntunnel: {}\n",
         "/etc/tern/mn.yaml:1:38: hac.identity: 'a b' is not a network access identifier (user@realm, RFC 4282)"),
        ("hac: {address: 198.18.0.1, identity: a@b, psk-file: a.psk, ca-file: c}\ntunnel: {}\nsecurity-association: {spi: 1}\n",
         "/etc/tern/mn.yaml:3:1: security-association: the SA comes from the HAC (hac:); remove security-association"),
        // YAML syntax errors keep Yams' line and column.
        ("home-agent: {address: 198.18.0.1, address: 198.18.0.2}\n",
         "/etc/tern/mn.yaml:1:35: home-agent.address: duplicate field; already set at line 1"),
        ("home-agent:\n  address: 198.18.0.1\u{1}\n",
         "/etc/tern/mn.yaml:2:22: cannot read the text: control characters are not allowed"),
        ("home-agent:\n  address: 198.18.0.1\n port: 7872\n",
         "/etc/tern/mn.yaml:3:2: YAML syntax error: did not find expected key (while parsing a block mapping at line 1, column 1)"),
        ("tunnel: [192.0.2.1\n",
         "/etc/tern/mn.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 9)"),
        ("home-agent:\n\taddress: 198.18.0.1\n",
         "/etc/tern/mn.yaml:2:1: YAML syntax error: found character that cannot start any token (while scanning for the next token at line 2, column 1)"),
    ]

    @Test("Mobile Node config errors", arguments: mobileNodeErrorsCases)
    func mobileNodeErrors(text: String, expected: String) {
        #expect(Self.mnError(text) == expected, "\(text)")
    }

    static let keyFileErrorsCases: [(String, String)] = [
        ("mn-to-ha-ekey: 0011223344556677889\n",
         "/k.yaml:1:16: mn-to-ha-ekey: the key has an odd number of hex digits (19)"),
        ("mn-to-ha-ekey: 00112233-44556677\n",
         "/k.yaml:1:16: mn-to-ha-ekey: the key must be hex digits without separators; character 9 is not a hex digit"),
        ("mn-to-ha-ekey: 0x0011223344556677\n",
         "/k.yaml:1:16: mn-to-ha-ekey: write the key as hex digits without a 0x prefix"),
        ("mn-to-ha-ekey: \(String(repeating: "00112233", count: 17))\n",
         "/k.yaml:1:16: mn-to-ha-ekey: key is 68 octets; no suite uses more than 64"),
        ("mn-to-ha-ekey: 0011223344556677\nmn-to-ha-ekey: 8899aabbccddeeff\n",
         "/k.yaml:2:1: mn-to-ha-ekey: duplicate field; already set at line 1"),
        ("mn-to-ha-key: 0011223344556677\n",
         "/k.yaml:1:1: unknown field (did you mean 'mn-to-ha-ekey'?)"),
        ("0011223344556677: 8899aabbccddeeff\n",
         "/k.yaml:1:1: unknown field (expected one of: mn-to-ha-ekey, mn-to-ha-ikey, ha-to-mn-ekey, ha-to-mn-ikey)"),
        ("0011223344556677: 1\n0011223344556677: 2\n",
         "/k.yaml:1:1: duplicate field"),
        ("mn-to-ha-ekey: [0011223344556677]\n",
         "/k.yaml:1:16: mn-to-ha-ekey: expected the key as hex digits"),
        ("mn-to-ha-ekey: \"0011223344556677\n",
         "/k.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at line 1, column 16)"),
    ]

    @Test("Key file errors name the key file, the field and lengths, never key material", arguments: keyFileErrorsCases)
    func keyFileErrors(text: String, expected: String) {
        let error = configurationError { () throws(ConfigurationError) in _ = try KeyFile.parse(text, path: "/k.yaml") }
        #expect(error?.description == expected)
        for secret in ["0011223344556677", "8899aabbccddeeff", "00112233", "44556677"] {
            #expect(error?.description.contains(secret) == false, "\(secret)")
        }
    }

    @Test("ConfigurationError's description leaves out what is not known")
    func descriptionForms() {
        #expect(ConfigurationError(file: "/a", line: 3, column: 4, field: "x.y", message: "m").description == "/a:3:4: x.y: m")
        #expect(ConfigurationError(file: "/a", line: 3, field: "x", message: "m").description == "/a:3: x: m")
        #expect(ConfigurationError(file: "/a", message: "cannot open").description == "/a: cannot open")
    }
}
