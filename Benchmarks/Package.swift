// swift-tools-version: 6.1
//
// Benchmarks for Tern, kept out of the root package so that the ordinary build never resolves the
// benchmark tooling. Run from this folder:
//     swift package --allow-writing-to-package-directory benchmark
// See README.md.
import PackageDescription

let package = Package(
    name: "TernBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The root package. Naming it "Tern" makes the product references below independent of the
        // checkout's folder name (a bare `.package(path: "..")` would be known by that folder's name).
        .package(name: "Tern", path: ".."),
        // Only the MallocInterposer trait: the default traits add a runtime interposer package that is
        // not mirrored here.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "DataChannelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TernDataChannel", package: "Tern"),
                .product(name: "TernProtocol", package: "Tern"),
                .product(name: "TernRoles", package: "Tern"),
            ],
            path: "DataChannelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
