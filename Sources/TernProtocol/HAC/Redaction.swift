/// How key material shows in a description, a debug description or a dump: its length only.
public func redacted(_ octets: some Collection<UInt8>) -> String { "<\(octets.count) octets, redacted>" }

/// Prints the non-nil children of `mirror` as `Name(label: value, …)`: for descriptions built from a
/// redacted ``customMirror``, so that what a log line can show is decided in one place.
public func describeChildren(of mirror: Mirror, as name: String) -> String {
    let parts = mirror.children.compactMap { child -> String? in
        let value = Mirror(reflecting: child.value)
        if value.displayStyle == .optional {
            guard let wrapped = value.children.first?.value else { return nil }
            return "\(child.label ?? "?"): \(wrapped)"
        }
        return "\(child.label ?? "?"): \(child.value)"
    }
    return "\(name)(\(parts.joined(separator: ", ")))"
}

extension TVHeader: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Headers whose values are secrets or derived from them (keys, EAP, `auth`): their values never show.
    public static let secretNames: Set<String> = [
        "auth", "eap-payload", "mip6-mn-to-ha-ekey", "mip6-mn-to-ha-ikey", "mip6-ha-to-mn-ekey", "mip6-ha-to-mn-ikey",
    ]

    var shownValue: String { Self.secretNames.contains(name) ? redacted(value.utf8) : value }

    public var description: String { "\(name): \(shownValue) (line \(line))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "value": shownValue, "line": line]) }
}

extension TVHeaderBlock: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "TVHeaderBlock(\(headers.map(\.description).joined(separator: "; "))\(auth.map { "; \($0)" } ?? ""))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["headers": headers, "auth": auth as Any, "authenticatedOctets": redacted(authenticatedOctets)])
    }
}

extension HACContainer: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The Content of a provisioning response holds the SA's keys: only its length shows.
    public var description: String { "HACContainer(identifier: \(identifier), content: \(redacted(content)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["identifier": identifier, "content": redacted(content)]) }
}

extension HACContainerDecoder: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "HACContainerDecoder(\(bufferedCount) octets buffered)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["bufferedCount": bufferedCount]) }
}

extension HACMessage: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { describeChildren(of: customMirror, as: "HACMessage") }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "mnID": mnID as Any, "authMethods": authMethods as Any, "eapPayload": eapPayload.map(redacted) as Any,
                "mnRand": mnRand as Any, "hacRand": hacRand as Any, "scope": scope as Any, "suiteList": suiteList as Any,
                "ciphersuite": ciphersuite as Any, "spi": spi as Any,
                "mnToHAIntegrityKey": mnToHAIntegrityKey.map(redacted) as Any,
                "haToMNIntegrityKey": haToMNIntegrityKey.map(redacted) as Any,
                "mnToHAEncryptionKey": mnToHAEncryptionKey.map(redacted) as Any,
                "haToMNEncryptionKey": haToMNEncryptionKey.map(redacted) as Any, "validityEnd": validityEnd as Any,
                "homeAgentIPv6": homeAgentIPv6 as Any, "homeAgentIPv4": homeAgentIPv4 as Any, "port": port as Any,
                "homeAddressIPv6": homeAddressIPv6 as Any, "homeAddressIPv4": homeAddressIPv4 as Any,
                "homeNetworkPrefixIPv6": homeNetworkPrefixIPv6 as Any, "homeNetworkPrefixIPv4": homeNetworkPrefixIPv4 as Any,
                "dnsIPv6": dnsIPv6, "dnsIPv4": dnsIPv4, "retryAfter": retryAfter as Any, "statusCode": statusCode as Any,
            ])
    }
}
