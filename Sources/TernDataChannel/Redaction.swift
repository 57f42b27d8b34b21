import TernProtocol

// Keys never show in a description, a debug description or a dump (`"\(keys)"`, `dump(association)`):
// a log line that interpolates an SA by mistake prints its lengths, not its keys.

extension DirectionalKeys: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "DirectionalKeys(encryptionKey: \(redacted(encryptionKey)), integrityKey: \(redacted(integrityKey)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["encryptionKey": redacted(encryptionKey), "integrityKey": redacted(integrityKey)])
    }
}

extension SecurityAssociation: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "SA \(securityParameterIndex.rawValue), suite \(suite), scope \(scope.rawValue), keys redacted"
    }
    public var debugDescription: String { description }
}
