internal import CTernOS
import TernDataChannel
import TernOS
import TernProtocol

/// The Home Agent's binding management, on its receiving thread (which owns the binding cache): Binding
/// Updates answered with Acknowledgements or Errors, and bindings put back after a restart.
extension HomeAgentDataPlane {
    func applyRestoredBindings(_ state: inout ReceiverState, at now: UInt64) {
        _ = state.view.refresh(from: tables)
        for restored in restoredBindings.take() {
            guard let entry = restored.entry, let session = state.view.table.bySPI[restored.spi.rawValue] else { continue }
            state.cache.restore(entry, at: now)
            guard state.cache.isLive(restored.spi, at: now) else { continue }
            session.bindingExpiresAt.store(entry.expiresAt, ordering: .relaxed)
            if let remote = restored.endpoint, session.currentEndpoint() == nil {
                // The local address the MN last sent to is not known after a restart: the kernel picks.
                _ = session.move(to: Endpoint(remote: remote, local: tern_local_address()))
                state.sessionByEndpoint[remote] = session
            }
        }
        cacheSnapshot.withLock { $0 = state.cache.entries }
    }

    /// Answers an authenticated Mobility Header from a Mobile Node: a Binding Update goes through
    /// the binding cache and its Binding Acknowledgement is queued for the sending thread, to the outer
    /// address:port the BU came from (DESIGN.md: Replies); an unknown MH Type gets a Binding Error with
    /// status 2 (RFC 6275 §9.2). Returns whether it was a Binding Update the cache accepted (registered,
    /// refreshed or deregistered): only that may move the endpoint.
    @discardableResult
    func handleMobilityHeader(
        _ octets: [UInt8], session: MobileNodeSession, replyTo endpoint: Endpoint, cache: inout BindingCache,
        counters local: inout TunnelCounters
    ) -> Bool {
        let message: MobilityMessage
        do {
            message = try MobilityHeaderCodec.decode(octets)
        } catch .unknownMessageType {
            let error = BindingError(status: BindingError.unrecognizedMobilityHeaderType, homeAddress: .any, options: [])
            queue(.bindingError(error), to: endpoint, session: session, counters: &local)
            local.drop(.unexpectedMobilityMessage)
            return false
        } catch {
            local.drop(.malformedMobilityHeader)
            return false
        }
        guard case .bindingUpdate(let update) = message else {
            local.drop(.unexpectedMobilityMessage)
            return false
        }
        let now = monotonicNanoseconds()
        let decision = cache.process(
            update, spi: session.securityParameterIndex, outerSource: endpoint.remote.address,
            assignedIPv4HomeAddress: session.ipv4HomeAddress,
            reinitializeSecurityAssociation: session.needsNewSecurityAssociation(
                inboundHighest: session.inbound.replayWindow.highestAccepted, now: wallClockSeconds()),
            at: now)
        let outcome: String
        var accepted = true
        switch decision.outcome {
        case .registered(let entry), .refreshed(let entry):
            session.bindingExpiresAt.store(entry.expiresAt, ordering: .relaxed)
            bindingChanges.post(BindingChange(spi: entry.spi, entry: entry, endpoint: endpoint.remote))
            outcome = "accepted, lifetime \(entry.lifetimeSeconds) s" + (entry.behindNAT ? ", behind NAT" : "")
        case .deregistered(let spi):
            session.bindingExpiresAt.store(0, ordering: .relaxed)
            bindingChanges.post(BindingChange(spi: spi, entry: nil, endpoint: nil))
            outcome = "deregistered"
        case .rejected(let status):
            outcome = "rejected with status \(status)"
            accepted = false
        }
        cacheSnapshot.withLock { $0 = cache.entries }
        events(.bindingUpdate(mobileNode: session.name, outcome: outcome))
        if let acknowledgement = decision.acknowledgement {
            queue(.bindingAcknowledgement(acknowledgement), to: endpoint, session: session, counters: &local)
        }
        return accepted
    }

    func queue(
        _ message: MobilityMessage, to endpoint: Endpoint, session: MobileNodeSession,
        counters local: inout TunnelCounters
    ) {
        let octets = MobilityHeaderCodec.encode(message)
        if !signalling.post(OutgoingMobilityHeader(session: session, endpoint: endpoint, octets: octets)) {
            local.drop(.signallingBacklog)
        }
    }
}
