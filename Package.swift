// swift-tools-version:6.0
// Corral: a vendor-neutral device fault containment system for Linux.
//
// Dependency rules (see ../shared/design/ARCHITECTURE.md):
// - CorralCore depends on the standard library only: the engine is pure and testable by hand.
// - CorralConfig reads YAML policies (the daemon's loader carries no simulator); Yams (libyaml vendored in C, no further dependencies)
//   is the config parser chosen in reference/swift-deps-probe.md (~same build cost as TOMLKit,
//   no unmirrored transitive dependency).
// - CorralDecode (vendor records, kernel logs) depends on CorralCore only: parsing is pure.
// - CorralRuntime (the loop both hosts are driven by: engine → host → outcomes → recorder)
//   depends on CorralCore only.
// - CorralSim (the deterministic simulator) depends on CorralCore, CorralDecode, CorralRuntime,
//   and CorralConfig + Yams for its scenario files.
// - CorralStore (the durable journal; `JournalRecorder`, the loop's journal side) uses GRDB over the system SQLite (libsqlite3-dev): WAL,
//   migrations, batched writes; reference/swift-deps-probe.md measured it cheap to build.
// - CorralServe: read-only /, /metrics, /status, /healthz over SwiftNIO's HTTP/1 server
//   (NIOPosix + NIOHTTP1): header caps while parsing, accept back-off on EMFILE, and no
//   FoundationNetworking (FlyingFox pulled in libcurl, OpenSSL, GnuTLS, Kerberos, LDAP: 52
//   shared libraries in a root daemon). It costs more CI build time than FlyingFox did
//   (docs/linux.md has both figures); Hummingbird would add its own layer on top of NIO.
// - CorralLinux: the Linux host (sysfs inventory, /dev/kmsg, actuators), every path under one
//   injectable root so tests run on fake trees.
// - CorralDaemon: `corral watch` as a service (DaemonService: setup, signals, systemd, the
//   wait) and one pass of it (watcher → journal, hooks, log), tested in-process; the CLI parses
//   flags.
// - swift-log gives the daemon structured, journald-friendly logging (a tiny package).
// - The `corral` executable adds swift-argument-parser for a `--help` that teaches.
import PackageDescription

let package = Package(
    name: "Corral",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "corral", targets: ["corral"]),
        .library(name: "CorralCore", targets: ["CorralCore"]),
        .library(name: "CorralConfig", targets: ["CorralConfig"]),
        .library(name: "CorralDecode", targets: ["CorralDecode"]),
        .library(name: "CorralSim", targets: ["CorralSim"]),
        .library(name: "CorralStore", targets: ["CorralStore"]),
        .library(name: "CorralServe", targets: ["CorralServe"]),
        .library(name: "CorralLinux", targets: ["CorralLinux"]),
        .library(name: "CorralRuntime", targets: ["CorralRuntime"]),
        .library(name: "CorralDaemon", targets: ["CorralDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CorralCore"),
        .target(name: "CorralDecode", dependencies: ["CorralCore"]),
        .target(name: "CorralRuntime", dependencies: ["CorralCore"]),
        .target(
            name: "CorralSim",
            dependencies: [
                "CorralCore", "CorralDecode", "CorralRuntime", "CorralConfig", .product(name: "Yams", package: "Yams"),
            ]),
        .target(
            name: "CorralStore",
            dependencies: ["CorralCore", "CorralRuntime", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "CorralLinux",
            dependencies: [
                "CorralCore", "CorralDecode", "CorralRuntime", .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "CorralServe",
            dependencies: [
                "CorralStore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .target(name: "CorralConfig", dependencies: ["CorralCore", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "CorralDaemon",
            dependencies: [
                "CorralCore", "CorralDecode", "CorralLinux", "CorralStore", "CorralServe",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "corral",
            dependencies: [
                "CorralCore",
                "CorralConfig",
                "CorralDecode",
                "CorralSim",
                "CorralStore",
                "CorralServe",
                "CorralLinux",
                "CorralDaemon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            plugins: [.plugin(name: "CorralRevision")]
        ),
        // `corral --version` names the git revision: written before each build by a prebuild
        // command (/bin/sh and git; nothing built for it).
        .plugin(name: "CorralRevision", capability: .buildTool()),
        // Benchmarks print figures and assert nothing: `swift run -c release corral-bench`.
        .executableTarget(
            name: "corral-bench",
            dependencies: ["CorralCore", "CorralDecode", "CorralLinux", "CorralSim", "CorralStore"]),
        // What tests share: fake sysfs trees, a fake kmsg, temporary paths, journal-key literals.
        .target(
            name: "CorralTestSupport", dependencies: ["CorralCore", "CorralLinux"], path: "Tests/CorralTestSupport"),
        .testTarget(name: "CorralCoreTests", dependencies: ["CorralCore"]),
        .testTarget(name: "CorralDecodeTests", dependencies: ["CorralDecode", "CorralCore"]),
        .testTarget(
            name: "CorralRuntimeTests", dependencies: ["CorralRuntime", "CorralSim", "CorralCore", "CorralTestSupport"]),
        .testTarget(name: "CorralSimTests", dependencies: ["CorralSim", "CorralCore", "CorralDecode", "CorralConfig"]),
        .testTarget(
            name: "CorralStoreTests",
            dependencies: [
                "CorralStore", "CorralCore", "CorralTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "CorralLinuxTests",
            dependencies: [
                "CorralLinux", "CorralCore", "CorralDecode", "CorralStore", "CorralDaemon", "CorralServe",
                "CorralTestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "CorralServeTests",
            dependencies: [
                "CorralServe", "CorralStore", "CorralCore", "CorralTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(name: "CorralConfigTests", dependencies: ["CorralConfig", "CorralCore"]),
    ]
)
