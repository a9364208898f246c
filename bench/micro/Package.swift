// swift-tools-version: 6.1
//
// Micro-benchmarks of the agent's hot path: what happens to every line a
// command prints, from the read buffer to the event array a fetch returns.
// They use only PipeCore, so they need neither root, nor pmcd, nor libpcp:
//
//     swift package --package-path bench/micro benchmark
//
// (bench/README.md tells how to keep a baseline and compare with it.)
//
// The harness is ordo-one's Benchmark (percentiles, malloc counts, baselines
// and regression thresholds). Only its MallocInterposer trait is enabled: the
// default set also has RuntimeInterposer, whose package is not in the local
// package cache, and the benchmarks do not need ARC counts.
import PackageDescription

let package = Package(
    name: "pmdapipe-micro",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: "../../Core"),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPath",
            dependencies: [
                .product(name: "PipeCore", package: "Core"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/HotPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
