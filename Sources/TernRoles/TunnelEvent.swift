public import TernDataChannel
public import TernProtocol

/// Something a role core or its engine reports for the log (rare events only; never per packet).
public enum TunnelEvent: Sendable {
    /// A Mobile Node's newest authenticated packet came from a new outer address.
    case bindingMoved(mobileNode: String, from: Endpoint?, to: Endpoint)
    /// A data-plane thread stopped because of an error it could not get past (engines only).
    case threadFailed(thread: String, error: String)
    /// HA: a Binding Update was answered (accepted, refreshed, deregistered or rejected).
    case bindingUpdate(mobileNode: String, outcome: String)
    /// HA: a binding's lifetime ran out without a refresh.
    case bindingExpired(mobileNode: String)
}

/// Why a data plane could not be set up.
public enum DataPlaneError: Error, CustomStringConvertible {
    case securityAssociation(SecurityAssociationError)
    case system(String)

    public var description: String {
        switch self {
        case .securityAssociation(let error): error.description
        case .system(let detail): detail
        }
    }
}

/// A binding as the Home Agent's core changed it, for whoever persists bindings (the co-located HAC
/// keeps them so a restarted HA still reaches its MNs).
public struct HomeAgentBindingChange: Sendable, Hashable {
    public var spi: SecurityParameterIndex
    /// nil: the binding is gone (deregistered or expired).
    public var entry: BindingCacheEntry?
    public var endpoint: SocketAddress?

    public init(spi: SecurityParameterIndex, entry: BindingCacheEntry?, endpoint: SocketAddress?) {
        self.spi = spi
        self.entry = entry
        self.endpoint = endpoint
    }
}
