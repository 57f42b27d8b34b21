internal import TernCrypto

/// Two SAs are equal when SPI, suite, scope and every key are: how a configuration reload tells an
/// unchanged Mobile Node from one whose keys were replaced. Keys are compared in constant time.
extension SecurityAssociation: Equatable {
    public static func == (a: SecurityAssociation, b: SecurityAssociation) -> Bool {
        a.securityParameterIndex == b.securityParameterIndex && a.suite == b.suite && a.scope == b.scope
            && a.mobileNodeToHomeAgent == b.mobileNodeToHomeAgent && a.homeAgentToMobileNode == b.homeAgentToMobileNode
    }
}

extension DirectionalKeys: Equatable {
    public static func == (a: DirectionalKeys, b: DirectionalKeys) -> Bool {
        // Both compared, whatever the first says: the time does not tell which key differs.
        let encryption = ConstantTime.equal(a.encryptionKey, b.encryptionKey)
        let integrity = ConstantTime.equal(a.integrityKey, b.integrityKey)
        return encryption && integrity
    }
}
