import ArgumentParser
import Logging
import TernConfig
import TernOS
import TernProtocol
import TernTunnel

struct MobileNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mn",
        abstract: "Run the Mobile Node: keep the Home Addresses and tunnel traffic to the Home Agent.",
        discussion: """
            Opens the TUN device with the Home Addresses, routes the configured prefixes into it, and sends
            everything read from it to the Home Agent's UDP service port. A keepalive goes out at start and
            whenever the tunnel has been idle for the keepalive interval (25 s by default).
            """)

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let logger = options.makeLogger(label: "tern.mn")
        let configuration: MobileNodeConfiguration
        do {
            configuration = try MobileNodeConfiguration.load(path: options.config)
        } catch {
            throw fail("\(error)", configuration: true)
        }
        let homeAgent = SocketAddress(configuration.homeAgentAddress, port: configuration.homeAgentPort)
        // Until policy routing arrives, a route that covers the Home Agent would send the tunnel into itself.
        if let looping = configuration.routes.first(where: { $0.contains(configuration.homeAgentAddress) }) {
            throw fail(
                "\(options.config): tunnel.routes: \(looping) contains the Home Agent's address \(configuration.homeAgentAddress); the tunnel would route into itself",
                configuration: true)
        }
        let suite = configuration.securityAssociation.suite
        let mtu = configuration.tunnel.mtu ?? defaultMTU(for: [suite])

        let tun: TunDevice
        do {
            tun = try TunDevice(name: configuration.tunnel.name)
            let netlink = try RouteNetlink()
            try netlink.setLink(index: tun.index, up: true, mtu: mtu)
            for address in configuration.homeAddresses {
                guard let host = IPPrefix(address: address, length: address.bitWidth) else { continue }
                try netlink.addAddress(host, interfaceIndex: tun.index)
            }
            for route in configuration.routes {
                try netlink.addRoute(route, interfaceIndex: tun.index)
            }
        } catch {
            throw fail("cannot set up TUN device \(configuration.tunnel.name): \(error)")
        }

        let socket: UDPSocket
        do {
            socket = try UDPSocket(ipv6: !homeAgent.address.isIPv4, receivePacketInfo: false)
            try socket.connect(homeAgent)
        } catch {
            throw fail("cannot reach the Home Agent at \(homeAgent): \(error)")
        }

        let plane: MobileNodeDataPlane
        do {
            plane = try MobileNodeDataPlane(
                tun: tun, socket: socket, mtu: mtu, association: configuration.securityAssociation,
                homeAddresses: configuration.homeAddresses, keepaliveIntervalSeconds: configuration.keepaliveInterval,
                events: { [logger] event in log(event, logger) })
            try plane.start()
        } catch {
            throw fail("cannot start the data plane: \(error)")
        }
        let homeAddresses = configuration.homeAddresses.map(\.description).joined(separator: ", ")
        logger.info(
            "mobile node up: \(tun.name) mtu \(mtu), home addresses \(homeAddresses), home agent \(homeAgent), SPI \(configuration.securityAssociation.securityParameterIndex.rawValue) suite \(suite)"
        )
        let service = DataPlaneService(
            logger: logger, statusFile: configuration.statusFile,
            report: { StatusReport(role: "mobile-node", counters: plane.statistics(), bindings: []) },
            stop: { plane.stop() })
        try await runUntilSignalled(service, logger: logger)
    }
}
