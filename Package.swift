// swift-tools-version:6.0
//
// pmdapipe: a PCP agent (PMDA) that lends sysadmin-approved privileged
// commands to unprivileged users, and pmpipe, its client.
//
// Module layering (each arrow is "may import"):
//   PipeCore    pure logic, no syscalls, no libpcp: config, access, parameters, lines, queues
//   CPipeSpawn  C: the few things that must happen between fork and exec
//   PipeSystem  Swift over Glibc + CPipeSpawn: processes, descriptors, poll, accounts, files
//   CPCP        libpcp / libpcp_pmda headers plus static inline bridges for macros
//   PipeAgent   the only agent code that imports CPCP: metric table, trampolines, main loop
//   PipeClient  the client side of libpcp used by pmpipe
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "pmdapipe",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pmdapipe", targets: ["pmdapipe"]),
        .executable(name: "pmpipe", targets: ["pmpipe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "PipeCore", swiftSettings: strict),
        .target(name: "CPipeSpawn"),
        .target(name: "PipeSystem", dependencies: ["PipeCore", "CPipeSpawn"], swiftSettings: strict),
        .systemLibrary(name: "CPCP"),
        .target(name: "PipeAgent", dependencies: ["CPCP", "PipeCore", "PipeSystem"], swiftSettings: strict),
        .executableTarget(name: "pmdapipe", dependencies: ["PipeAgent"], swiftSettings: strict),
        .target(name: "PipeClient", dependencies: ["CPCP", "PipeCore"], swiftSettings: strict),
        .executableTarget(
            name: "pmpipe",
            dependencies: ["PipeClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .testTarget(name: "PipeCoreTests", dependencies: ["PipeCore"], exclude: ["Corpus"]),
        .testTarget(name: "PipeSystemTests", dependencies: ["PipeSystem"]),
        // Checks the agent's own event-array encoding against libpcp_pmda's.
        .testTarget(name: "PipeAgentTests", dependencies: ["PipeAgent", "PipeCore", "CPCP"]),
        // Needs libpcp's headers and library (PipeClient links them), not pmcd.
        .testTarget(name: "PipeClientTests", dependencies: ["PipeClient", "PipeCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["PipeCore"]),
    ]
)
