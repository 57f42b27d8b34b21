// The Home Agent's side of binding management: the Binding Cache and how it answers a Binding Update
// (RFC 6275 §9.5, §10.3.1; RFC 5555 §4). A value type: the daemon authenticates the BU, passes it in with
// the SPI it arrived under and the time, and sends the Binding Acknowledgement that comes out.

private let nanosecondsPerSecond: UInt64 = 1_000_000_000

/// One Mobile Node's binding at the Home Agent, keyed by the SPI of its SA (DESIGN.md: the HA identifies
/// the MN by SPI, so a new SA is a new entry with a fresh sequence space).
public struct BindingCacheEntry: Sendable, Hashable {
    public var spi: SecurityParameterIndex
    /// The Sequence # of the last accepted Binding Update.
    public var sequenceNumber: UInt16
    /// The care-of address the BU named (option 32 or 3); nil when it named none.
    public var careOfAddress: IPAddress?
    /// The outer source differed from the named care-of address, or none was named (RFC 5555 §4.1).
    public var behindNAT: Bool
    /// The bound IPv4 Home Address; nil when the last BU carried no option 29 (that removes the IPv4 part,
    /// DESIGN.md) or the HA refused it.
    public var ipv4HomeAddress: IPv4Address?
    /// The granted lifetime.
    public var lifetimeSeconds: UInt32
    /// When the last accepted Binding Update arrived; `expiresAt − registeredAt` is the granted lifetime.
    public var registeredAt: UInt64
    public var expiresAt: UInt64

    public init(
        spi: SecurityParameterIndex, sequenceNumber: UInt16, careOfAddress: IPAddress?, behindNAT: Bool,
        ipv4HomeAddress: IPv4Address?, lifetimeSeconds: UInt32, registeredAt: UInt64, expiresAt: UInt64
    ) {
        self.spi = spi
        self.sequenceNumber = sequenceNumber
        self.careOfAddress = careOfAddress
        self.behindNAT = behindNAT
        self.ipv4HomeAddress = ipv4HomeAddress
        self.lifetimeSeconds = lifetimeSeconds
        self.registeredAt = registeredAt
        self.expiresAt = expiresAt
    }
}

/// What the Home Agent does with one Binding Update.
public struct BindingCacheDecision: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// A new binding: the SPI had no live entry.
        case registered(BindingCacheEntry)
        /// An existing binding was updated (lifetime, care-of address, NAT, IPv4 Home Address).
        case refreshed(BindingCacheEntry)
        /// Lifetime 0: the entry is gone (or there was none).
        case deregistered(SecurityParameterIndex)
        /// The cache did not change; the acknowledgement says why.
        case rejected(BindingAcknowledgementStatus)
    }

    /// Send this to the outer address:port the BU came from (DESIGN.md: Replies). nil only when the BU was
    /// accepted with the A flag clear (RFC 6275 §9.5.1); a refusal is always answered.
    public var acknowledgement: BindingAcknowledgement?
    public var outcome: Outcome

    public init(acknowledgement: BindingAcknowledgement?, outcome: Outcome) {
        self.acknowledgement = acknowledgement
        self.outcome = outcome
    }
}

/// The Home Agent's Binding Cache (RFC 6275 §9.1) for home registrations, keyed by SPI.
///
/// ``process(_:spi:outerSource:assignedIPv4HomeAddress:reinitializeSecurityAssociation:at:)`` is called only
/// for a Binding Update that authenticated under `spi` (RFC 6618 §6): forged or replayed packets never get
/// here. Entries that outlive their lifetime are treated as absent at once and removed by ``expire(at:)``.
///
/// Not thread-safe (a value): one owner.
public struct BindingCache: Sendable {
    /// The HA's limits and advice.
    public struct Policy: Sendable, Hashable {
        /// The longest lifetime granted (RFC 6275 §10.3.1: the HA may grant less than asked). Granted in
        /// whole 4-second units, so a value that is not a multiple of 4 rounds down (at least one unit).
        public var maximumLifetimeSeconds: UInt32
        /// The Refresh Time sent in NAT Detection (RFC 5555 §3.2.2; DESIGN.md default 25 s).
        public var natKeepaliveSeconds: UInt32
        /// Binding Refresh Advice to send (RFC 6275 §6.2.4) when shorter than the granted lifetime; nil for
        /// none.
        public var refreshAdviceSeconds: UInt32?

        public init(
            maximumLifetimeSeconds: UInt32 = 600, natKeepaliveSeconds: UInt32 = 25, refreshAdviceSeconds: UInt32? = nil
        ) {
            self.maximumLifetimeSeconds = maximumLifetimeSeconds
            self.natKeepaliveSeconds = natKeepaliveSeconds
            self.refreshAdviceSeconds = refreshAdviceSeconds
        }

        /// The largest Lifetime field granted: whole 4-second units, 1 ... 0xFFFF.
        var maximumLifetimeUnits: UInt16 {
            UInt16(min(max(maximumLifetimeSeconds / 4, 1), UInt32(UInt16.max)))
        }
    }

    /// What the next Binding Updates are granted; a change (configuration reload) leaves the lifetimes
    /// already granted as they are until the Mobile Node refreshes.
    public var policy: Policy
    private var cache: [SecurityParameterIndex: BindingCacheEntry] = [:]

    public init(policy: Policy) {
        self.policy = policy
    }

    /// Processes an authenticated Binding Update that arrived under `spi` from outer source `outerSource`
    /// (RFC 6275 §9.5.1, §10.3.1; RFC 5555 §4.1). Checks, in order: H set (else 129, DESIGN.md); Sequence #
    /// greater than the last accepted (else 135 carrying that number); lifetime 0 (deregistration, honoured
    /// even when the SA is ending, so a clean shutdown works); `reinitializeSecurityAssociation` (176,
    /// binding untouched); then accepts.
    ///
    /// - Parameters:
    ///   - assignedIPv4HomeAddress: this MN's IPv4 Home Address from config or the HAC; nil when it has none.
    ///   - reinitializeSecurityAssociation: the SA is near its sequence soft limit or validity end.
    ///   - outerSource: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as dual-stack sockets report) is read
    ///     as the IPv4 address it carries.
    public mutating func process(
        _ update: BindingUpdate, spi: SecurityParameterIndex, outerSource: IPAddress,
        assignedIPv4HomeAddress: IPv4Address?, reinitializeSecurityAssociation: Bool, at now: UInt64
    ) -> BindingCacheDecision {
        guard update.flags.contains(.homeRegistration) else {
            return refuse(update, status: .administrativelyProhibited)
        }
        // An entry past its lifetime is gone, even if expire(at:) has not run yet.
        let existing = cache[spi].flatMap { $0.expiresAt > now ? $0 : nil }
        if let existing, !MobilitySequenceNumber.isGreater(update.sequenceNumber, than: existing.sequenceNumber) {
            let acknowledgement = BindingAcknowledgement(
                status: .sequenceNumberOutOfWindow, sequenceNumber: existing.sequenceNumber, lifetimeUnits: 0,
                options: [])
            return BindingCacheDecision(
                acknowledgement: acknowledgement, outcome: .rejected(.sequenceNumberOutOfWindow))
        }
        if update.lifetimeUnits == 0 {
            cache[spi] = nil
            return BindingCacheDecision(
                acknowledgement: acknowledge(update, status: .accepted, lifetimeUnits: 0, options: []),
                outcome: .deregistered(spi))
        }
        if reinitializeSecurityAssociation {
            return refuse(update, status: .reinitializeSecurityAssociationWithHAC)
        }

        let grantedUnits = min(update.lifetimeUnits, policy.maximumLifetimeUnits)
        let grantedSeconds = UInt32(grantedUnits) * 4
        var options: [MobilityOption] = []
        if let advice = policy.refreshAdviceSeconds, advice < grantedSeconds {
            options.append(.bindingRefreshAdvice(intervalUnits: UInt16(max(advice / 4, 1))))
        }

        let careOfAddress = Self.careOfAddress(in: update.options, outerSource: outerSource)
        let source = Self.unmapped(outerSource)
        let behindNAT = careOfAddress.map { $0 != source } ?? true

        var boundIPv4: IPv4Address?
        if let (requested, requestPrefix) = Self.ipv4HomeAddressRequest(in: update.options) {
            let (acknowledgement, bound) = Self.acknowledgeIPv4(
                requested: requested, requestPrefix: requestPrefix, assigned: assignedIPv4HomeAddress)
            options.append(acknowledgement)
            boundIPv4 = bound
        }
        if behindNAT {
            options.append(
                .natDetection(udpEncapsulationRequired: false, refreshTimeSeconds: policy.natKeepaliveSeconds))
        }

        let entry = BindingCacheEntry(
            spi: spi, sequenceNumber: update.sequenceNumber, careOfAddress: careOfAddress, behindNAT: behindNAT,
            ipv4HomeAddress: boundIPv4, lifetimeSeconds: grantedSeconds, registeredAt: now,
            expiresAt: saturatingDeadline(now, plus: UInt64(grantedSeconds) * nanosecondsPerSecond))
        cache[spi] = entry
        let acknowledgement =
            update.flags.contains(.acknowledge)
            ? acknowledge(update, status: .accepted, lifetimeUnits: grantedUnits, options: options) : nil
        return BindingCacheDecision(
            acknowledgement: acknowledgement, outcome: existing == nil ? .registered(entry) : .refreshed(entry))
    }

    /// The entry for `spi`, expired or not (``isLive(_:at:)`` tells).
    public func entry(for spi: SecurityParameterIndex) -> BindingCacheEntry? { cache[spi] }

    /// Puts back an entry a previous run of the HA accepted (restored from its database after a
    /// restart), unless it has already expired at `now` or a newer one is in the cache.
    public mutating func restore(_ entry: BindingCacheEntry, at now: UInt64) {
        guard entry.expiresAt > now else { return }
        if let existing = cache[entry.spi], existing.registeredAt >= entry.registeredAt { return }
        cache[entry.spi] = entry
    }

    /// True while `spi` has a binding whose lifetime has not run out.
    public func isLive(_ spi: SecurityParameterIndex, at now: UInt64) -> Bool {
        guard let entry = cache[spi] else { return false }
        return now < entry.expiresAt
    }

    /// Removes and returns the entries whose lifetime has run out at `now`, in SPI order.
    public mutating func expire(at now: UInt64) -> [BindingCacheEntry] {
        let expired = cache.values.filter { $0.expiresAt <= now }.sorted { $0.spi < $1.spi }
        for entry in expired { cache[entry.spi] = nil }
        return expired
    }

    /// The earliest expiry among the entries; nil when the cache is empty.
    public var nextExpiry: UInt64? { cache.values.map(\.expiresAt).min() }

    /// All entries in SPI order, for status output.
    public var entries: [BindingCacheEntry] { cache.values.sorted { $0.spi < $1.spi } }

    // MARK: Internals

    private func acknowledge(
        _ update: BindingUpdate, status: BindingAcknowledgementStatus, lifetimeUnits: UInt16, options: [MobilityOption]
    ) -> BindingAcknowledgement {
        BindingAcknowledgement(
            status: status, sequenceNumber: update.sequenceNumber, lifetimeUnits: lifetimeUnits, options: options)
    }

    private func refuse(_ update: BindingUpdate, status: BindingAcknowledgementStatus) -> BindingCacheDecision {
        BindingCacheDecision(
            acknowledgement: acknowledge(update, status: status, lifetimeUnits: 0, options: []),
            outcome: .rejected(status))
    }

    private static func unmapped(_ address: IPAddress) -> IPAddress {
        if case .v6(let v6) = address, let v4 = v6.mappedIPv4 { return .v4(v4) }
        return address
    }

    /// The care-of address the BU names: option 32 or option 3. Should it carry both, the one of the outer
    /// source's family wins (it is the one the packet can have come from), else the first.
    private static func careOfAddress(in options: [MobilityOption], outerSource: IPAddress) -> IPAddress? {
        var named: [IPAddress] = []
        for option in options {
            switch option {
            case .ipv4CareOfAddress(let address): named.append(.v4(address))
            case .alternateCareOfAddress(let address): named.append(.v6(address))
            default: break
            }
        }
        let sourceIsIPv4 = unmapped(outerSource).isIPv4
        return named.first { $0.isIPv4 == sourceIsIPv4 } ?? named.first
    }

    private static func ipv4HomeAddressRequest(in options: [MobilityOption]) -> (IPv4Address, Bool)? {
        for option in options {
            if case .ipv4HomeAddress(let address, _, let requestPrefix) = option { return (address, requestPrefix) }
        }
        return nil
    }

    /// RFC 5555 §3.2.1 with DESIGN.md "IPv4 HoA (29/30)": the IPv4 part can fail while the binding is
    /// accepted. Pref-len is 32 on success and 0 on failure (§3.2.1: "MUST be set to zero … in case of
    /// failure"). Returns the option and the address to bind (success only).
    private static func acknowledgeIPv4(
        requested: IPv4Address, requestPrefix: Bool, assigned: IPv4Address?
    ) -> (MobilityOption, IPv4Address?) {
        if requestPrefix {
            return (
                .ipv4AddressAcknowledgement(status: .prefixAllocationUnauthorized, address: requested, prefixLength: 0),
                nil
            )
        }
        guard let assigned else {
            return (
                .ipv4AddressAcknowledgement(status: .dynamicAssignmentNotAvailable, address: .any, prefixLength: 0), nil
            )
        }
        if requested == .any || requested == assigned {
            return (.ipv4AddressAcknowledgement(status: .success, address: assigned, prefixLength: 32), assigned)
        }
        // Another address: refused, but the ack names the assigned one so the MN can learn it.
        return (.ipv4AddressAcknowledgement(status: .incorrectIPv4HomeAddress, address: assigned, prefixLength: 0), nil)
    }
}
