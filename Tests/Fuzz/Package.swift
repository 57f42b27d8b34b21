// swift-tools-version:5.4
//
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point to
// `<module>_main` (testable executables) and links `main` to it, and a harness has no main of its own:
// libFuzzer's is the one.
// Tern's libFuzzer harnesses (docs/fuzzing.md). A package of its own so that the ordinary build never
// sees them: each harness is an executable whose only entry point is `LLVMFuzzerTestOneInput`, so it
// links only with libFuzzer's main. scripts/fuzz.sh builds them with
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// which instruments Tern's own modules too (they are built in this package's scratch directory).
import PackageDescription

/// One harness: Sources/<name>/, depending on FuzzSupport and the Tern products it exercises.
func harness(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport"] + products.map { .product(name: $0, package: "Tern") })
}

let package = Package(
    name: "TernFuzz",
    dependencies: [.package(name: "Tern", path: "../..")],
    targets: [
        // Reading a fuzzer's input as values (FuzzedInput) and the check that turns a broken invariant
        // into a crash libFuzzer reports.
        .target(name: "FuzzSupport"),
        harness("FuzzDataChannelOpen", ["TernDataChannel", "TernProtocol"]),
        harness("FuzzMobilityHeader", ["TernProtocol"]),
        harness("FuzzHACCodec", ["TernProtocol"]),
        harness("FuzzPSKExchange", ["TernHAC", "TernProtocol"]),
        harness("FuzzRouteNetlink", ["TernOS"]),
        harness("FuzzOffload", ["TernProtocol"]),
        harness("FuzzConfiguration", ["TernConfig"]),
        harness("FuzzHTTPRequestHead", ["TernProtocol"]),
        harness("FuzzControlRequest", ["TernOS"]),
    ]
)
