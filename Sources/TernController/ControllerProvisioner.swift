import Foundation
import TernCrypto
import TernHAC
import TernProtocol
import TernStore

/// Leases addresses and issues an SA for one exchange, remembering what it issued so the service can
/// install it, or delete it when the MN never received it.
final class Provisioner: @unchecked Sendable {
    let settings: HomeAgentControllerService.Settings
    let store: HomeAgentControllerStore
    private(set) var issued: (association: IssuedSecurityAssociation, homeAddresses: [IPAddress])?

    init(settings: HomeAgentControllerService.Settings, store: HomeAgentControllerStore) {
        self.settings = settings
        self.store = store
    }

    func provision(_ request: HACProvisioningRequest) throws(HACProvisioningFailure) -> HACProvisioning {
        let now = Date().timeIntervalSince1970
        do {
            let addresses = try store.leaseHomeAddresses(
                for: request.identity.text, pools: settings.homeAddressPools, reserved: settings.reservedAddresses)
            let association = try store.issueSecurityAssociation(
                for: request.identity.text, suite: request.suite, scope: request.scope,
                validity: settings.validitySeconds, now: now,
                random: { count in (try? SecureRandom.bytes(count: count)) ?? [] })
            issued = (association, addresses)
            var bootstrap = settings.bootstrap
            for address in addresses {
                switch address {
                case .v4(let v4): bootstrap.homeAddressIPv4 = v4
                case .v6(let v6): bootstrap.homeAddressIPv6 = v6
                }
            }
            guard let spi = SecurityParameterIndex(rawValue: association.securityParameterIndex) else {
                throw StoreError("SPI \(association.securityParameterIndex) out of range")
            }
            let keys = association.keys
            return HACProvisioning(
                securityAssociation: HACSecurityAssociation(
                    spi: spi, suite: association.suite, scope: association.scope,
                    mnToHA: HACDirectionalKeys(
                        encryption: keys.mobileNodeToHomeAgentEncryption, integrity: keys.mobileNodeToHomeAgentIntegrity),
                    haToMN: HACDirectionalKeys(
                        encryption: keys.homeAgentToMobileNodeEncryption, integrity: keys.homeAgentToMobileNodeIntegrity),
                    validityEnd: HTTPDate(secondsSince1970: Int64(association.validityEnd))),
                bootstrap: bootstrap)
        } catch {
            throw HACProvisioningFailure(reason: "\(error)")
        }
    }

    /// The exchange failed after provisioning: the MN never got the SA, so it goes.
    func abandon() {
        guard let issued else { return }
        try? store.deleteSecurityAssociation(spi: issued.association.securityParameterIndex)
        self.issued = nil
    }
}
