// swift-tools-version:6.0
//
// pmdapipe: a PCP agent (PMDA) that lends sysadmin-approved privileged
// commands to unprivileged users, and pmpipe, its client.
//
// Module layering (each arrow is "may import"):
//   Core/       a local package: PipeCore (pure logic) and PipeSystem (the libc
//               seam), which build and test without PCP: see Core/Package.swift
//   CPCP        libpcp / libpcp_pmda headers plus static inline bridges for macros
//   PipeAgent   the only agent code that imports CPCP: metric table, trampolines, main loop
//   PipeClient  the client side of libpcp used by pmpipe; it reaches the C library
//               only through PipeSystem (no Glibc import), libpcp through CPCP
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let core = Target.Dependency.product(name: "PipeCore", package: "Core")
let system = Target.Dependency.product(name: "PipeSystem", package: "Core")

let package = Package(
    name: "pmdapipe",
    products: [
        .executable(name: "pmdapipe", targets: ["pmdapipe"]),
        .executable(name: "pmpipe", targets: ["pmpipe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(path: "Core"),
    ],
    targets: [
        .systemLibrary(name: "CPCP"),
        .target(name: "PipeAgent",
                dependencies: ["CPCP", core, system, .product(name: "ArgumentParser", package: "swift-argument-parser")],
                swiftSettings: strict),
        .executableTarget(name: "pmdapipe", dependencies: ["PipeAgent"], swiftSettings: strict),
        .target(name: "PipeClient", dependencies: ["CPCP", core, system], swiftSettings: strict),
        .executableTarget(
            name: "pmpipe",
            dependencies: ["PipeClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        // Checks the agent's own event-array encoding against libpcp_pmda's.
        .testTarget(name: "PipeAgentTests", dependencies: ["PipeAgent", core, "CPCP"]),
        // Needs libpcp's headers and library (PipeClient links them), not pmcd.
        .testTarget(name: "PipeClientTests", dependencies: ["PipeClient", core, system]),
        // Tools/ holds hostile-client.c, which the tests build with cc against libpcp.
        .testTarget(name: "IntegrationTests", dependencies: [core], exclude: ["Tools"]),
    ]
)
