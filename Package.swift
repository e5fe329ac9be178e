// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "jmirror",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "jmirror", targets: ["jmirror"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
    ],
    targets: [
        // libcurl is loaded when first used (see Sources/CCurl/include/ccurl.h); its headers come from libcurl4-openssl-dev.
        .target(name: "CCurl"),
        // One C call Swift cannot make (sqlite3_db_config is variadic); SQLite itself comes through GRDB.
        .target(name: "CSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Headers only: libarchive itself is loaded with dlopen when an archive is used (shim.h).
        .systemLibrary(name: "CArchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CICal", providers: [.apt(["libical-dev"])]),
        // No headers, no link flags: libgmime-3.0 is opened with dlopen when a message is read (shim.h).
        .systemLibrary(name: "CGMime", providers: [.apt(["libgmime-3.0-0"])]),
        .target(name: "Digest", dependencies: ["CCrypto"]),
        .target(name: "Transport", dependencies: [
            "CCurl", "Digest", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "JMAP", dependencies: ["Transport", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Store", dependencies: ["Digest", "CSQLite", .product(name: "GRDB", package: "GRDB.swift"),
                                             .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        .target(name: "Formats", dependencies: ["JMAP", "Digest", "CICal"]),
        .target(name: "Sync", dependencies: ["JMAP", "Store", "Formats", .product(name: "Logging", package: "swift-log")]),
        .target(name: "History", dependencies: ["Store", "Formats", "JMAP", "Digest"]),
        .target(name: "Archive", dependencies: ["CArchive", "Store", "History", "Formats", "JMAP", "Digest"]),
        .target(name: "Replay", dependencies: ["JMAP", "Store", "Formats", "History", "Digest"]),
        .target(name: "Search", dependencies: ["CGMime", "Digest", "Store", "Formats", "JMAP", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Daemon", dependencies: ["JMAP", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Mirror", dependencies: [
            "Daemon", "Search", "JMAP", "Store", "Formats", "Sync", "History", "Archive", "Replay",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "jmirror", dependencies: [
            "Mirror", "Daemon", "Search", "Sync", "History", "Archive", "Replay", "Store", "JMAP", "Transport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TestSupport", dependencies: ["JMAP", "Transport", "Formats", "Digest"], path: "Tests/TestSupport",
                exclude: ["fault_proxy.py", "push_front.py", "pim_check.py", "pdpa_check.py", "stall_server.py", "ics_corpus.py", "imap_probe.py", "mail_oracle.py"]),
        .testTarget(name: "UnitTests", dependencies: ["Search", "Daemon", "JMAP", "Transport", "Mirror", "Sync", "History", "Archive", "Replay", "Store", "Formats", "Digest", "TestSupport",
                                                     .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Search", "Daemon", "JMAP", "Transport", "Mirror", "Sync", "History", "Archive", "Replay", "Store", "Digest", "Formats", "TestSupport",
                                                            .product(name: "Logging", package: "swift-log"),
                                                            .product(name: "GRDB", package: "GRDB.swift")],
                    exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
