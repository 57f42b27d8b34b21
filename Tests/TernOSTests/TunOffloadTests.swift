import Foundation
import Testing
import TernOS
import TernTestSupport

/// What went wrong in a TUN offload test's set-up.
private struct TunTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// These tests create interfaces and namespaces: without root they fail, loudly.
private func requireRoot() -> Bool {
    guard getuid() == 0 else {
        Issue.record("TUN offload tests need root (uid 0) to create TUN devices and network namespaces")
        return false
    }
    return true
}

@discardableResult
private func run(_ arguments: [String], in namespace: String? = nil, timeout: Double = 10) throws -> String {
    let full = (namespace.map { ["ip", "netns", "exec", $0] } ?? []) + arguments
    let result = try execute(full, timeout: timeout)
    guard result.status == 0 else {
        throw TunTestError("\(full.joined(separator: " ")) exited \(result.status): \(result.output)")
    }
    return result.output
}

/// A fresh name with `prefix`, unique to this process and call (interface names: at most 15 characters).
private func uniqueName(_ prefix: String) -> String {
    "\(prefix)\(String(UInt32.random(in: 0...UInt32.max) & 0xff_ffff, radix: 16))"
}

/// Runs `body` with network namespaces of the given count, deleted afterwards even when it throws.
private func withNamespaces(_ count: Int, _ body: ([String]) throws -> Void) throws {
    var created: [String] = []
    defer {
        for namespace in created {
            if let result = try? execute(["ip", "netns", "del", namespace]), result.status != 0 {
                Issue.record("could not delete network namespace \(namespace): \(result.output)")
            }
        }
    }
    for _ in 0..<count {
        let namespace = "tern-off-\(getpid())-\(uniqueName(""))"
        try run(["ip", "netns", "add", namespace])
        created.append(namespace)
    }
    try body(created)
}

/// Opens a TUN device with virtio headers and moves it into `namespace` at once (the descriptor stays
/// attached), so nothing but its creation touches the test host's namespace.
private func openTun(in namespace: String) throws -> TunDevice {
    let tun = try TunDevice(name: uniqueName("ternoff"), virtioHeaders: true)
    try run(["ip", "link", "set", "dev", tun.name, "netns", namespace])
    return tun
}

/// `ethtool -k` of `device` in `namespace`: feature name → on.
private func features(of device: String, in namespace: String) throws -> [String: Bool] {
    var found: [String: Bool] = [:]
    for line in try run(["ethtool", "-k", device], in: namespace).split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { continue }
        let value = parts[1].trimmingCharacters(in: .whitespaces)
        found[parts[0].trimmingCharacters(in: .whitespaces)] = value.hasPrefix("on")
    }
    return found
}

/// The running kernel's (major, minor) version.
private func kernelVersion() throws -> (Int, Int) {
    let release = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)
    let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard numbers.count == 2 else { throw TunTestError("kernel release '\(release)'") }
    return (numbers[0], numbers[1])
}

@Suite("TUN offloads against the kernel (root, throwaway network namespaces)", .serialized)
struct TunOffloadTests {
    @Test("IFF_VNET_HDR and TUNSETOFFLOAD: what the kernel accepts is what is reported, and shows in ethtool")
    func offloadsAreProbed() throws {
        guard requireRoot() else { return }
        let (major, minor) = try kernelVersion()
        try withNamespaces(1) { namespaces in
            let namespace = namespaces[0]
            let tun = try openTun(in: namespace)
            #expect(tun.virtioHeaderLength == 10)
            let before = try features(of: tun.name, in: namespace)
            #expect(before["tx-tcp-segmentation"] == false, "no TSO before TUNSETOFFLOAD: \(before)")

            let accepted = tun.enableOffloads(.all)
            print("TUN offloads accepted by Linux \(major).\(minor): \(accepted)")
            #expect(accepted.isSuperset(of: [.checksum, .tso4, .tso6, .tsoECN]))
            if (major, minor) >= (6, 2) { #expect(accepted.isSuperset(of: [.uso4, .uso6]), "USO since Linux 6.2") }
            let after = try features(of: tun.name, in: namespace)
            #expect(after["tx-checksum-ip-generic"] == accepted.contains(.checksum))
            #expect(after["tx-tcp-segmentation"] == accepted.contains(.tso4))
            #expect(after["tx-tcp6-segmentation"] == accepted.contains(.tso6))
            #expect(after["tx-tcp-ecn-segmentation"] == accepted.contains(.tsoECN))
            #expect(after["tx-udp-segmentation"] == accepted.contains(.uso4))

            // The kernel refuses sets that cannot stand: each falls back to what it can take.
            #expect(tun.enableOffloads([.checksum, .tso4, .uso4]) == [.checksum, .tso4], "USO4 alone is refused")
            #expect(tun.enableOffloads([.tso4, .tso6]) == [], "TSO without checksum is refused")
            #expect(try features(of: tun.name, in: namespace)["tx-tcp-segmentation"] == false)
            #expect(tun.enableOffloads([.checksum]) == [.checksum])

            let plain = try TunDevice(name: uniqueName("ternoff"))
            try run(["ip", "link", "set", "dev", plain.name, "netns", namespace])
            #expect(plain.virtioHeaderLength == 0)
            #expect(plain.enableOffloads(.all) == [], "no offloads without virtio headers")
            #expect(try features(of: plain.name, in: namespace)["tx-tcp-segmentation"] == false)
        }
    }

    @Test("TCP and UDP super-packets leave one TUN device and enter another intact", arguments: [false, true])
    func superPacketsCrossTwoDevices(ipv6: Bool) throws {
        guard requireRoot() else { return }
        let (a, b) = ipv6 ? ("2001:db8:7::1", "2001:db8:7::2") : ("192.0.2.1", "192.0.2.2")
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("tern-offload-\(UUID().uuidString).py")
        try Data(Self.peerScript.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        try withNamespaces(2) { namespaces in
            let tunA = try openTun(in: namespaces[0])
            let tunB = try openTun(in: namespaces[1])
            for (tun, namespace, local) in [(tunA, namespaces[0], a), (tunB, namespaces[1], b)] {
                #expect(tun.enableOffloads(.all).isSuperset(of: [.checksum, .tso4, .tso6, .uso4, .uso6]))
                try run(["ip", "link", "set", "dev", tun.name, "up", "mtu", "1400"], in: namespace)
                let address = ipv6 ? ["-6", "addr", "add", "\(local)/64", "dev", tun.name, "nodad"]
                    : ["addr", "add", "\(local)/24", "dev", tun.name]
                try run(["ip"] + address, in: namespace)
            }
            let shuttle = try Shuttle(a: tunA, b: tunB)

            // TCP: a megabyte from A to B; the kernel in A hands its TUN super-packets (TSO).
            let tcpServer = try BackgroundCommand(["python3", script.path, "tcp-server", b], in: namespaces[1])
            defer { tcpServer.stop() }
            try tcpServer.waitFor("ready")
            let tcpClient = try BackgroundCommand(["python3", script.path, "tcp-client", b], in: namespaces[0])
            defer { tcpClient.stop() }
            try shuttle.run(until: { !tcpServer.isRunning && !tcpClient.isRunning })
            let sent = tcpClient.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let got = tcpServer.output.split(separator: "\n").last.map(String.init) ?? ""
            #expect(
                sent.hasPrefix("sent 1000000 ") && got == sent.replacingOccurrences(of: "sent", with: "received"),
                "client: \(sent); server: \(got)")
            let tcpType: UInt8 = ipv6 ? 4 : 1  // VIRTIO_NET_HDR_GSO_TCPV6 / TCPV4
            #expect(shuttle.superPackets[tcpType, default: 0] > 0, "TCP super-packets seen: \(shuttle.summary)")
            #expect(shuttle.longest > 1400, "a packet longer than the MTU crossed: \(shuttle.summary)")

            // UDP: five sends of 8 × 1000 octets with UDP_SEGMENT (USO on the TUN).
            let udpServer = try BackgroundCommand(["python3", script.path, "udp-server", b], in: namespaces[1])
            defer { udpServer.stop() }
            try udpServer.waitFor("ready")
            let udpClient = try BackgroundCommand(["python3", script.path, "udp-client", b], in: namespaces[0])
            defer { udpClient.stop() }
            try shuttle.run(until: { !udpServer.isRunning && !udpClient.isRunning })
            #expect(udpServer.output.contains("received 40 datagrams intact"), "\(udpServer.output) / \(udpClient.output)")
            #expect(shuttle.superPackets[5, default: 0] >= 5, "UDP_L4 super-packets seen: \(shuttle.summary)")
            print("TUN to TUN over IPv\(ipv6 ? 6 : 4): \(shuttle.summary)")
        }
    }

    /// The peers in the namespaces. TCP: the client sends 1 MB of a pattern and prints its length and
    /// SHA-256; the server prints the same of what it received. UDP: 40 datagrams of 1000 octets, each
    /// filled with its number, sent 8 at a time with UDP_SEGMENT; the server checks each arrives once.
    static let peerScript = #"""
        import hashlib, socket, sys, time
        role, address = sys.argv[1], sys.argv[2]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        port = 7901
        if role == "tcp-server":
            server = socket.socket(family, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((address, port)); server.listen(1); server.settimeout(10)
            print("ready", flush=True)
            connection, _ = server.accept(); connection.settimeout(10)
            digest, total = hashlib.sha256(), 0
            while True:
                data = connection.recv(65536)
                if not data: break
                digest.update(data); total += len(data)
            connection.close()
            print("received", total, digest.hexdigest(), flush=True)
        elif role == "tcp-client":
            data = bytes((i * 7 + i // 251) & 0xff for i in range(1000000))
            connection = socket.create_connection((address, port), timeout=10)
            connection.sendall(data); connection.shutdown(socket.SHUT_WR)
            while connection.recv(65536): pass
            print("sent", len(data), hashlib.sha256(data).hexdigest(), flush=True)
        elif role == "udp-server":
            server = socket.socket(family, socket.SOCK_DGRAM)
            server.bind((address, port)); server.settimeout(5)
            print("ready", flush=True)
            seen = {}
            while len(seen) < 40:
                data = server.recv(65536)
                number = data[0] if data else -1
                if len(data) != 1000 or data != bytes([number]) * 1000 or number in seen:
                    print("bad datagram", len(data), number, flush=True); sys.exit(1)
                seen[number] = True
            print("received", len(seen), "datagrams intact", flush=True)
        elif role == "udp-client":
            client = socket.socket(family, socket.SOCK_DGRAM)
            client.setsockopt(17, 103, 1000)  # SOL_UDP, UDP_SEGMENT
            for run in range(5):
                client.sendto(b"".join(bytes([run * 8 + k]) * 1000 for k in range(8)), (address, port))
                time.sleep(0.05)
            print("sent 40", flush=True)
        """#
}

/// Moves packets between two TUN devices, virtio header and all, as a data plane that forwards
/// super-packets whole would; counts what it saw by GSO type. The kernel on each side checks what it
/// gets (TCP checksums and sequence, the UDP datagrams), so a packet damaged on the way fails the test.
private final class Shuttle {
    let a: TunDevice
    let b: TunDevice
    private let poller: Poller
    private var buffer = [UInt8](repeating: 0, count: TunDevice.virtioNetHeaderLength + TunDevice.maximumPacketLength)
    /// Packets read with a virtio GSO type (1 TCPv4, 4 TCPv6, 5 UDP_L4), by type.
    private(set) var superPackets: [UInt8: Int] = [:]
    private(set) var packets = 0
    /// The longest packet read, without its virtio header.
    private(set) var longest = 0

    init(a: TunDevice, b: TunDevice) throws {
        self.a = a
        self.b = b
        poller = Poller([a.descriptor.rawValue, b.descriptor.rawValue])
    }

    var summary: String { "\(packets) packets, longest \(longest), super-packets by GSO type \(superPackets)" }

    /// Shuttles until `done` or 20 s; throws on the deadline.
    func run(until done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(20)
        while !done() {
            guard Date() < deadline else { throw TunTestError("the peers did not finish within 20 s: \(summary)") }
            try poller.wait(timeoutMilliseconds: 20)
            try forward(from: a, to: b)
            try forward(from: b, to: a)
        }
    }

    /// Moves up to 256 waiting packets. A to B goes through the vectored calls (header apart, as a data
    /// plane reading behind a slot's headroom would), B to A through the plain ones.
    private func forward(from source: TunDevice, to destination: TunDevice) throws {
        let vectored = source === a
        let headerLength = TunDevice.virtioNetHeaderLength
        for _ in 0..<256 {
            let length: Int? = try buffer.withUnsafeMutableBytes { raw in
                if vectored {
                    let header = UnsafeMutableRawBufferPointer(rebasing: raw[0..<headerLength])
                    let packet = UnsafeMutableRawBufferPointer(rebasing: raw[headerLength...])
                    return try source.read(header: header, packet: packet).map { $0 + headerLength }
                }
                return try source.read(into: raw)
            }
            guard let length else { return }
            guard length > headerLength else { throw TunTestError("read of \(length) octets") }
            packets += 1
            longest = max(longest, length - headerLength)
            let gsoType = buffer[1] & 0x7f  // without VIRTIO_NET_HDR_GSO_ECN
            if gsoType != 0 { superPackets[gsoType, default: 0] += 1 }
            let written = try buffer.withUnsafeBytes { raw in
                if vectored {
                    return try destination.write(
                        header: UnsafeRawBufferPointer(rebasing: raw[0..<headerLength]),
                        packet: UnsafeRawBufferPointer(rebasing: raw[headerLength..<length]))
                }
                return try destination.write(UnsafeRawBufferPointer(rebasing: raw[0..<length]))
            }
            guard written else { throw TunTestError("TUN queue full") }
        }
    }
}

/// A command in a namespace, running while the test shuttles; stopped by its PID.
private final class BackgroundCommand {
    private let process = Process()
    private let outputFile: URL
    private let handle: FileHandle

    init(_ arguments: [String], in namespace: String) throws {
        outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("tern-offload-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        handle = try FileHandle(forWritingTo: outputFile)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace] + arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Waits up to 5 s for `text` in the output.
    func waitFor(_ text: String) throws {
        let deadline = Date().addingTimeInterval(5)
        while !output.contains(text) {
            guard Date() < deadline, process.isRunning else { throw TunTestError("no '\(text)' from the peer: \(output)") }
            usleep(10_000)
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? handle.close()
        try? FileManager.default.removeItem(at: outputFile)
    }
}
