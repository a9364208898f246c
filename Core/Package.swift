// swift-tools-version:6.0
//
// The parts of pmdapipe that need neither PCP's headers nor pmcd: the pure
// decisions (PipeCore) and the one seam to the C library (PipeSystem, with
// its C shims). A package of its own so that
//
//     swift test --package-path Core
//
// builds and runs their tests on any Linux machine with Swift and RE2
// (Debian: libre2-dev), without PCP (SwiftPM builds every test target of a
// package into one bundle, so inside the root package these tests would need
// libpcp's headers too).
//
// Module layering (each arrow is "may import"):
//   PipeCore     pure logic: no Glibc, no Foundation, no libpcp
//   CPipeSpawn   C: the few things that must happen between fork and exec
//   CRE2         C functions over Google's RE2 (C++, Debian's libre2-dev): the
//                linear-time regular expressions of `param N = pattern REGEX`
//   CCrypto      libcrypto's EVP digests (SHA-256 of pinned programs)
//   PipeSystem   Swift over Glibc + CPipeSpawn + CRE2 + CCrypto: processes,
//                descriptors, poll, accounts, files, cgroups, pins, the RE2 engine
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "pmdapipe-core",
    products: [
        .library(name: "PipeCore", targets: ["PipeCore"]),
        .library(name: "PipeSystem", targets: ["PipeSystem"]),
    ],
    targets: [
        .target(name: "PipeCore", swiftSettings: strict),
        .target(name: "CPipeSpawn", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        .target(
            name: "CRE2",
            cxxSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            linkerSettings: [.linkedLibrary("re2")]),
        // OpenSSL's libcrypto: SHA-256 for pinned programs.
        .systemLibrary(name: "CCrypto"),
        .target(name: "PipeSystem", dependencies: ["PipeCore", "CPipeSpawn", "CRE2", "CCrypto"], swiftSettings: strict),
        // Writes pmdas/pipe/pmns and help from the metric table (scripts/pmda-files).
        .executableTarget(name: "pmda-files", dependencies: ["PipeCore"]),
        .testTarget(name: "PipeCoreTests", dependencies: ["PipeCore"], exclude: ["Corpus"]),
        .testTarget(name: "PipeSystemTests", dependencies: ["PipeSystem"]),
    ],
    // RE2's headers (Debian 12: re2 2022-06-01) need C++11; 17 is clang's default.
    cxxLanguageStandard: .cxx17
)
