import TernDaemon
import TernOS
import TernProtocol
import TernStore
import TernTunnel
import Testing

@Suite("The co-located controller's installer: reservations first, routes, SAs, restarts and revocation")
struct ControllerInstallerTests {
    private func installer(
        plane: FakeDataPlane, routes: FakeRoutes = FakeRoutes(), store: any SequenceReservationStore,
        clean: Bool = true
    ) throws -> ControllerInstaller {
        ControllerInstaller(
            plane: plane, routes: routes, reservations: SequenceReservations(store: store),
            retirements: try RetirementQueue(), previousStopWasClean: clean, logger: quietLogger)
    }

    @Test("an issued SA is installed after its first reservation is durable, with host routes for its addresses")
    func reservationBeforeInstall() throws {
        let (_, issued) = try storeWithIssuedSAs(["one@example.test"], now: 1_000)
        let reservations = FakeReservationStore()
        let plane = try FakeDataPlane()
        let spi = issued[0].securityParameterIndex
        let expected = PersistedSequenceState(sentReserved: issued[0].sequenceReservation).resumedReservation
        var reservedAtInstall: UInt32?
        plane.onInstall = { _ in reservedAtInstall = reservations.reservations.withLock { $0[spi] } }
        let routes = FakeRoutes()
        let addresses = [IPAddress("192.0.2.2")!, IPAddress("2001:db8:1::2")!]
        let installer = try installer(plane: plane, routes: routes, store: reservations)
        #expect(installer.install(issued[0], homeAddresses: addresses, restored: false))
        #expect(reservedAtInstall == expected.grantedThrough, "persisted before the data plane had it")
        let installed = try #require(plane.installed.first)
        #expect(installed.sequenceReservation == expected)
        #expect(installed.validity == (issued[0].issuedAt, issued[0].validityEnd))
        #expect(installed.homeAddresses == addresses)
        #expect(!installed.holdEndpointUntilBindingUpdate, "issued just now: nothing to hold")
        #expect(routes.current == Set(addresses))
    }

    @Test("no reservation, no SA: a store that cannot persist keeps the SA out of the data plane")
    func failingReservation() throws {
        let (_, issued) = try storeWithIssuedSAs(["one@example.test"], now: 1_000)
        let plane = try FakeDataPlane()
        let routes = FakeRoutes()
        let installer = try installer(plane: plane, routes: routes, store: FakeReservationStore(failing: true))
        #expect(!installer.install(issued[0], homeAddresses: [IPAddress("192.0.2.2")!], restored: false))
        #expect(plane.installed.isEmpty)
        #expect(routes.current.isEmpty, "no route for an SA that is not there")
    }

    @Test("a restart after an unclean stop puts SAs back with endpoints held; a clean one does not hold them")
    func restoreHoldsAfterUncleanStop() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test", "two@example.test"], now: 1_000)
        for clean in [false, true] {
            let plane = try FakeDataPlane()
            let routes = FakeRoutes()
            let installer = try installer(plane: plane, routes: routes, store: store, clean: clean)
            let counts = try installer.restore(
                from: store, bindings: BindingPersistence(store: store),
                clock: ClockPair(monotonicNow: 5_000_000_000, wallNow: 1_100))
            #expect(counts.associations == 2)
            #expect(Set(plane.spis) == Set(issued.map(\.securityParameterIndex)))
            #expect(plane.installed.allSatisfy { $0.holdEndpointUntilBindingUpdate == !clean })
            #expect(routes.current.count == 4, "two addresses each")
        }
    }

    @Test("a restart resumes the reservation past the previous run's, so no sequence number is sent twice")
    func restoreResumesPastReservation() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test"], now: 1_000)
        let spi = issued[0].securityParameterIndex
        try store.reserveSequenceNumbers(spi: spi, through: 5_000)
        let plane = try FakeDataPlane()
        _ = try installer(plane: plane, store: store).restore(
            from: store, bindings: BindingPersistence(store: store), clock: ClockPair(monotonicNow: 1, wallNow: 1_100))
        let installed = try #require(plane.installed.first)
        #expect(installed.sequenceReservation.resumeAfter == 5_000)
        #expect(installed.sequenceReservation.grantedThrough > 5_000)
        let persisted = try #require(store.liveSecurityAssociations(at: 1_100, grace: 0).first)
        #expect(persisted.sequenceReservation == installed.sequenceReservation.grantedThrough)
    }

    @Test("a restart puts the stored bindings back into the data plane")
    func restoreBindings() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test"], now: 1_000)
        let spi = try #require(SecurityParameterIndex(rawValue: issued[0].securityParameterIndex))
        let clock = ClockPair(monotonicNow: 5_000_000_000, wallNow: 1_100)
        let entry = BindingCacheEntry(
            spi: spi, sequenceNumber: 3, careOfAddress: IPAddress("198.51.100.1"), behindNAT: false,
            ipv4HomeAddress: nil, lifetimeSeconds: 300, registeredAt: 5_000_000_000, expiresAt: 305_000_000_000)
        try BindingPersistence(store: store).save(
            BindingRecord(spi: spi, entry: entry, endpoint: SocketAddress(IPAddress("198.51.100.1")!, port: 7872)),
            clock: clock)
        let plane = try FakeDataPlane()
        let counts = try installer(plane: plane, store: store).restore(
            from: store, bindings: BindingPersistence(store: store), clock: clock)
        #expect(counts.bindings == 1)
        #expect(plane.state.withLock { $0.restored }.map(\.entry) == [entry])
    }

    @Test("a commit retires the MN's other SAs after the grace period, and only its own")
    func commitRetires() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test", "two@example.test"], now: 1_000)
        let plane = try FakeDataPlane()
        let installer = try installer(plane: plane, store: store)
        for sa in issued { installer.install(sa, homeAddresses: [], restored: false) }
        var successor = issued[0]
        successor.securityParameterIndex = 0x00AB_CDEF
        installer.install(successor, homeAddresses: [], restored: false)
        installer.retireReplaced(by: successor, after: 60, now: 1_000)
        let due = installer.retirements.takeDue(at: 1_000 + 60_000_000_000)
        #expect(due.map(\.spi.rawValue) == [issued[0].securityParameterIndex])
        installer.abandon(successor)
        #expect(!plane.spis.contains(0x00AB_CDEF), "an abandoned exchange's SA goes at once")
    }

    @Test("a revocation removes every SA of the MN and its host routes, and says what went")
    func revoke() throws {
        let (store, issued) = try storeWithIssuedSAs(["one@example.test", "two@example.test"], now: 1_000)
        let plane = try FakeDataPlane()
        let routes = FakeRoutes()
        let installer = try installer(plane: plane, routes: routes, store: store)
        installer.install(issued[0], homeAddresses: [IPAddress("192.0.2.2")!], restored: false)
        installer.install(issued[1], homeAddresses: [IPAddress("192.0.2.3")!], restored: false)
        let text = ControllerInstaller.revoke("one@example.test", plane: plane, routes: routes, logger: quietLogger)
        #expect(text == "revoked one@example.test: SA(s) \(issued[0].securityParameterIndex), their bindings and 1 host route(s) removed")
        #expect(plane.spis == [issued[1].securityParameterIndex])
        #expect(routes.current == [IPAddress("192.0.2.3")!])
        #expect(
            ControllerInstaller.revoke("one@example.test", plane: plane, routes: routes, logger: quietLogger)
                == "revoked one@example.test: it held no SA on this home agent")
    }
}
