import Foundation
import Synchronization
import TernController
import TernHAC
import TernOS
import TernProtocol
import TernStore
import TernTLS
import TernTestSupport
import Testing

/// What a callback saw, read by the test (thread-safe).
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

/// A HAC on a loopback port with a real certificate, a real SQLite store (in memory) and one known MN.
struct InstalledSA: Sendable {
    var association: IssuedSecurityAssociation
    var homeAddresses: [IPAddress]
}

final class ControllerLab: @unchecked Sendable {
    let certificates: CertificateFactory
    let authority: (certificate: String, key: String)
    let store: HomeAgentControllerStore
    let service: HomeAgentControllerService
    let address: SocketAddress
    let installed = Recorder<InstalledSA>()
    let events = Recorder<String>()
    static let identity = "laptop@example.test"
    static let psk: [UInt8] = Array(0..<32)

    init(
        validity: Double = 3600, limits: ControllerLimits = ControllerLimits(),
        throttle: AuthenticationThrottle.Limits = AuthenticationThrottle.Limits()
    ) throws {
        certificates = try CertificateFactory()
        authority = try certificates.certificateAuthority("ca")
        let leaf = try certificates.leaf("hac", altNames: "DNS:hac.example.test,IP:127.0.0.1", issuer: authority)
        store = try HomeAgentControllerStore()
        try store.addMobileNode(identity: Self.identity, preSharedKey: Self.psk, at: 0)
        let installed = installed
        let events = events
        service = try HomeAgentControllerService(
            settings: .init(
                listen: [SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 0)], certificateChainFile: leaf.certificate,
                privateKeyFile: leaf.key, validitySeconds: validity,
                homeAddressPools: [IPPrefix("192.0.2.0/24")!, IPPrefix("2001:db8:1::/64")!],
                reservedAddresses: [IPAddress("192.0.2.1")!, IPAddress("2001:db8:1::1")!],
                bootstrap: HACBootstrap(homeAgentIPv4: IPv4Address(198, 18, 0, 1), port: 7872),
                limits: limits, throttle: throttle),
            store: store,
            lifecycle: .init(install: { association, addresses in
                installed.append(InstalledSA(association: association, homeAddresses: addresses))
            }),
            events: { event in events.append("\(event)") })
        try service.start()
        address = try #require(service.boundAddresses().first)
    }

    func client(psk: [UInt8] = ControllerLab.psk, identity: String = ControllerLab.identity, trust: TLSTrust? = nil)
        -> HomeAgentControllerClient.Settings
    {
        HomeAgentControllerClient.Settings(
            controller: address, trust: trust ?? .certificateAuthorities(file: authority.certificate),
            serverIdentity: TLSServerIdentity("hac.example.test"), identity: NetworkAccessIdentifier(identity)!,
            preSharedKey: psk, exchangeSeconds: 5)
    }

    func tearDown() {
        service.stop()
        certificates.remove()
    }
}

@Suite("Home Agent Controller over real TLS (RFC 6618 §5, loopback)", .serialized)
struct ControllerTests {
    @Test("an MN bootstraps: same SA on both sides, HoAs from the pools, the same ones again next time")
    func bootstrap() throws {
        let lab = try ControllerLab()
        defer { lab.tearDown() }
        let result = try HomeAgentControllerClient.bootstrap(lab.client())
        #expect(result.tlsVersion == "TLSv1.3")
        let sa = result.provisioning.securityAssociation
        #expect(sa.suite == .aes128GCMSHA256)
        #expect(result.provisioning.bootstrap.homeAddressIPv4 == IPv4Address(192, 0, 2, 2))
        #expect(result.provisioning.bootstrap.homeAddressIPv6 == IPv6Address("2001:db8:1::2"))
        #expect(result.provisioning.bootstrap.homeAgentIPv4 == IPv4Address(198, 18, 0, 1))
        // The service installs after the final response: wait (bounded) for it.
        let deadline = Date().addingTimeInterval(5)
        while lab.installed.all.isEmpty && Date() < deadline { usleep(10_000) }
        let installed = try #require(lab.installed.all.first)
        #expect(installed.association.securityParameterIndex == sa.spi.rawValue)
        #expect(installed.association.keys.mobileNodeToHomeAgentEncryption == sa.mnToHA.encryption)
        #expect(installed.association.keys.homeAgentToMobileNodeEncryption == sa.haToMN.encryption)
        #expect(installed.homeAddresses == [IPAddress("192.0.2.2")!, IPAddress("2001:db8:1::2")!])

        // A returning MN gets its Home Addresses back and a new SPI; the old SA retires.
        let second = try HomeAgentControllerClient.bootstrap(lab.client())
        #expect(second.provisioning.bootstrap.homeAddressIPv4 == IPv4Address(192, 0, 2, 2))
        #expect(second.provisioning.securityAssociation.spi != sa.spi)
        // The old SA is retired when the exchange is committed, just after the MN got its response.
        var live = try lab.store.liveSecurityAssociations(at: Date().timeIntervalSince1970, grace: 0)
        while live.count > 1 && Date() < deadline.addingTimeInterval(5) {
            usleep(10_000)
            live = try lab.store.liveSecurityAssociations(at: Date().timeIntervalSince1970, grace: 0)
        }
        #expect(live.map(\.securityParameterIndex) == [second.provisioning.securityAssociation.spi.rawValue])
    }

    @Test("a wrong PSK and an unknown identity fail alike (the HAC's first auth does not verify) and provision nothing")
    func refusals() throws {
        let lab = try ControllerLab()
        defer { lab.tearDown() }
        for settings in [lab.client(psk: Array(repeating: 7, count: 32)), lab.client(identity: "stranger@example.test")] {
            let error = #expect(throws: ControllerError.self) { try HomeAgentControllerClient.bootstrap(settings) }
            guard case .exchange(let failure) = error else {
                Issue.record("expected an exchange failure, got \(String(describing: error))")
                continue
            }
            #expect(failure.kind == .authenticationFailed, "\(failure)")
        }
        #expect(lab.installed.all.isEmpty)
        #expect(try lab.store.liveSecurityAssociations(at: Date().timeIntervalSince1970, grace: 0).isEmpty)
    }

    @Test("the MN refuses a HAC whose certificate it cannot verify (another CA: a man in the middle)")
    func manInTheMiddle() throws {
        let lab = try ControllerLab()
        defer { lab.tearDown() }
        let other = try lab.certificates.certificateAuthority("other-ca")
        let error = #expect(throws: ControllerError.self) {
            try HomeAgentControllerClient.bootstrap(lab.client(trust: .certificateAuthorities(file: other.certificate)))
        }
        guard case .transport(let tls) = error else {
            Issue.record("expected a TLS failure, got \(String(describing: error))")
            return
        }
        #expect(tls.kind == .verification)
        #expect(lab.installed.all.isEmpty)
    }

    @Test("a client that stops mid-exchange is dropped at the deadline and the HAC keeps serving")
    func stalledClient() throws {
        let lab = try ControllerLab(
            limits: ControllerLimits(firstRecordSeconds: 1, handshakeSeconds: 1, exchangeSeconds: 1))
        defer { lab.tearDown() }
        // TCP connect and say nothing: the TLS handshake never starts.
        let silent = try TCPConnection.connect(to: lab.address, deadline: .after(seconds: 2))
        let result = try HomeAgentControllerClient.bootstrap(lab.client())
        #expect(result.provisioning.securityAssociation.suite == .aes128GCMSHA256)
        // After its deadline the HAC has closed the silent connection: we read end of stream, not a hang.
        var octet: UInt8 = 0
        let read = try withUnsafeMutableBytes(of: &octet) { try silent.read(into: $0, deadline: .after(seconds: 3)) }
        #expect(read == 0)
        #expect(lab.events.all.contains { $0.contains("timeout: nothing received") }, "\(lab.events.all)")
    }
}
