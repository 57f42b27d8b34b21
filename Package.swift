// swift-tools-version: 6.0
//
// Tern — a userspace RFC 6618 mobility VPN.
//
// The layers, from the wire inward:
//   TernProtocol     pure: data-channel framing, ciphersuite table, replay window, sequence numbers.
//                    No dependencies, never opens a descriptor, takes time as a value.
//   COpenSSL         the system OpenSSL (libssl-dev) through pkg-config, headers only.
//   TernCrypto       thin Swift wrapper over OpenSSL EVP: cipher contexts, HMAC, AES-XCBC-MAC, RNG.
//   TernDataChannel  pure (no descriptors): seal/open in place per RFC 6618 §6 / RFC 4303 §2 for all suites.
//   TernOS           the one OS layer: every syscall, TUN, UDP batches, rtnetlink, clocks.
//   TernRoles        pure: the HA's and MN's per-datagram decisions (HomeAgentCore, MobileNodeCore).
//   TernTunnel       the HA and MN data planes (threads driving TernRoles) and the MN's control plane.
//   TernStore        the Home Agent Controller's SQLite state (GRDB).
//   TernPrivileges   least privilege after setup: libcap (CLibCap) names and reads, CTernPrivileges
//                    changes credentials on every thread (docs/privileges.md).
//   TernMetrics      the Prometheus endpoint (swift-metrics, swift-prometheus): counters read from the data
//                    planes at scrape time, served by TernOS' MetricsHTTPServer on a thread of its own.
//   TernConfig, tern the YAML configuration and the `tern` command.
// Benchmarks live in Benchmarks/Package.swift so the ordinary build never resolves the benchmark tooling.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Tern",
    products: [
        .library(name: "TernProtocol", targets: ["TernProtocol"]),
        .library(name: "TernCrypto", targets: ["TernCrypto"]),
        .library(name: "TernDataChannel", targets: ["TernDataChannel"]),
        .library(name: "TernRoles", targets: ["TernRoles"]),
        .library(name: "TernHAC", targets: ["TernHAC"]),
        .library(name: "TernOS", targets: ["TernOS"]),
        .library(name: "TernTLS", targets: ["TernTLS"]),
        // For the fuzz harnesses (Tests/Fuzz/Package.swift), which build against the library products.
        .library(name: "TernConfig", targets: ["TernConfig"]),
        .executable(name: "tern", targets: ["tern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Least privilege (docs/privileges.md): the system libcap, and a small C shim that makes each of
        // libcap's credential changes on every thread of the process.
        .systemLibrary(name: "CLibCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .target(name: "CTernPrivileges"),
        .target(
            name: "TernPrivileges", dependencies: ["CLibCap", "CTernPrivileges", "TernOS"], swiftSettings: strict),
        .target(name: "TernProtocol", swiftSettings: strict),
        // The one OS layer: every system call goes through TernOS.SystemCall. CTernOS adapts what
        // Swift's Glibc module cannot reach (mmsghdr, TUNSETIFF, CMSG_*).
        .target(name: "CTernOS"),
        .target(name: "TernOS", dependencies: ["CTernOS", "TernProtocol"], swiftSettings: strict),
        // The MN–HAC exchange (RFC 6618 §5.8): pure PSK state machines, no descriptors, no clocks read.
        .target(name: "TernHAC", dependencies: ["TernProtocol", "TernCrypto"], swiftSettings: strict),
        // The role cores (issue 14): the Home Agent's and Mobile Node's per-datagram decisions as values —
        // datagrams and the time in, TUN writes, sends and events out. Pure: no TernOS, no CTernOS.
        .target(name: "TernRoles", dependencies: ["TernProtocol", "TernDataChannel"], swiftSettings: strict),
        // The data plane: dedicated threads moving packets between the TUN device and UDP, driving TernRoles.
        .target(
            name: "TernTunnel", dependencies: ["TernOS", "TernProtocol", "TernDataChannel", "TernRoles"],
            swiftSettings: strict),
        .target(name: "TernCrypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        // TLS for MN <-> HAC (RFC 6618 §5, §9.2): OpenSSL's libssl on memory BIOs over TernOS TCP sockets,
        // blocking with per-operation deadlines; tls-server-end-point (RFC 5929 §4.1) for the `auth` header.
        .target(name: "TernTLS", dependencies: ["COpenSSL", "TernCrypto", "TernOS", "TernProtocol"], swiftSettings: strict),
        .target(
            name: "TernDataChannel",
            dependencies: ["TernProtocol", "TernCrypto"],
            swiftSettings: strict
        ),
        // The daemons' configuration: YAML (Yams' Node API) into validated values; every error names
        // file:line:column and the field. Key files are permission-checked before they are read.
        .target(
            name: "TernConfig",
            dependencies: ["TernOS", "TernProtocol", "TernDataChannel", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        // What the daemons do besides moving packets, as library types tests import (the executable only
        // wires): the co-located controller, its state keepers (sequence reservations, binding persistence,
        // SA retirement), the MN's bootstrap, status reports, reload decisions. The data plane is reached
        // through small protocols (ControllerDataPlane), conformed to in one file.
        .target(
            name: "TernDaemon",
            dependencies: [
                "TernOS", "TernTunnel", "TernRoles", "TernProtocol", "TernDataChannel", "TernConfig", "TernStore", "TernController",
                "TernHAC", "TernTLS", "TernPrivileges",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The `tern` command: `tern ha`, `tern mn`. Reads config, opens TUN and sockets, runs the data plane.
        .executableTarget(
            name: "tern",
            dependencies: [
                "TernOS", "TernTunnel", "TernProtocol", "TernDataChannel", "TernConfig", "TernStore", "TernCrypto",
                "TernController", "TernHAC", "TernTLS", "TernPrivileges", "TernMetrics", "TernDaemon",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The Home Agent Controller's state (DESIGN.md: where state lives): identities, leases, SAs, in
        // SQLite through GRDB (the system libsqlite3).
        .target(
            name: "TernStore", dependencies: ["TernOS", "TernProtocol", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // The Home Agent Controller service and the Mobile Node's bootstrap client: TLS (TernTLS), the
        // PSK exchange (TernHAC) and the store (TernStore), on threads with deadlines.
        .target(
            name: "TernController",
            dependencies: [
                "TernHAC", "TernTLS", "TernStore", "TernCrypto", "TernOS", "TernProtocol", "TernDataChannel",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // Metrics (off unless configured): swift-metrics' API with swift-prometheus behind it, exported by
        // TernOS' small HTTP responder. Only CoreMetrics: no Dispatch, no Foundation, no NIO.
        .target(
            name: "TernMetrics",
            dependencies: [
                "TernOS", "TernProtocol", "TernTunnel",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        // Helpers shared by the test targets (hex, a seeded PRNG); never linked into the daemons.
        // Test helpers; the in-memory packet devices and network for the engines need TernOS's protocols.
        .target(
            name: "TernTestSupport", dependencies: ["TernOS", "TernProtocol"], path: "Tests/TernTestSupport",
            swiftSettings: strict),
        .testTarget(
            name: "TernProtocolTests", dependencies: ["TernProtocol", "TernTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "TernHACTests", dependencies: ["TernHAC", "TernProtocol", "TernTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "TernCryptoTests", dependencies: ["TernCrypto", "TernTestSupport"], swiftSettings: strict),
        // Whole-system tests in network namespaces: they run the `tern` binary built beside them.
        .testTarget(
            name: "TernIntegrationTests", dependencies: ["TernProtocol", "TernPrivileges", "TernTestSupport"],
            swiftSettings: strict),
        .testTarget(name: "TernPrivilegesTests", dependencies: ["TernPrivileges"], swiftSettings: strict),
        .testTarget(
            name: "TernTLSTests", dependencies: ["TernTLS", "TernOS", "TernProtocol", "TernTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "TernOSTests", dependencies: ["CTernOS", "TernOS", "TernProtocol", "TernTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "TernDataChannelTests",
            dependencies: ["TernDataChannel", "TernProtocol", "TernCrypto", "TernTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TernControllerTests",
            dependencies: ["TernController", "TernHAC", "TernTLS", "TernStore", "TernOS", "TernProtocol", "TernTestSupport"],
            swiftSettings: strict),
        .testTarget(name: "TernStoreTests", dependencies: ["TernStore", "TernProtocol"], swiftSettings: strict),
        .testTarget(
            name: "TernMetricsTests",
            dependencies: [
                "TernMetrics", "TernOS", "TernProtocol", "TernTunnel",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TernConfigTests", dependencies: ["TernConfig", "TernProtocol", "TernDataChannel", "TernTestSupport"],
            swiftSettings: strict),
        // HA and MN cores joined in memory, as wireguard-go's genTestPair: no privileges, real SAs.
        .testTarget(
            name: "TernRolesTests",
            dependencies: ["TernRoles", "TernProtocol", "TernDataChannel", "TernTestSupport"], swiftSettings: strict),
        // The deterministic network simulation (docs/simulation.md): HAs and MNs in virtual time, by seed.
        .testTarget(
            name: "TernSimulationTests",
            dependencies: [
                "TernRoles", "TernTunnel", "TernController", "TernHAC", "TernProtocol", "TernDataChannel", "TernTestSupport",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TernDaemonTests",
            dependencies: [
                "TernDaemon", "TernOS", "TernTunnel", "TernProtocol", "TernDataChannel", "TernConfig", "TernStore",
                "TernController", "TernHAC", "TernTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TernTunnelTests", dependencies: ["TernTunnel", "TernOS", "TernProtocol", "TernDataChannel", "TernTestSupport"],
            swiftSettings: strict),
    ]
)
