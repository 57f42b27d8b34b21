import TernProtocol

// Keys and PSKs never show in a description, a debug description or a dump.

extension HACDirectionalKeys: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "HACDirectionalKeys(encryption: \(redacted(encryption)), integrity: \(redacted(integrity)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["encryption": redacted(encryption), "integrity": redacted(integrity)])
    }
}

extension PSKClient.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "PSKClient.Configuration(identity: \(identity), preSharedKey: \(redacted(preSharedKey)), "
            + "proposedScope: \(proposedScope.rawValue), proposedSuites: \(proposedSuites))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "identity": identity, "preSharedKey": redacted(preSharedKey), "proposedScope": proposedScope,
                "proposedSuites": proposedSuites,
            ])
    }
}

extension PSKServer: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The policy only: the server holds the identity's PSK (or the dummy key) while an exchange runs.
    public var description: String { "PSKServer(suites: \(policy.suitePreference), scope: \(policy.scope))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["policy": description]) }
}
