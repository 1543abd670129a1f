// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "billing",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "billing", targets: ["billing"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "CShim"),
        .target(name: "Common", dependencies: ["CShim"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI", "CShim"]),
        .target(name: "Postgres", dependencies: ["CLibPQ", "Common"]),
        .target(name: "HTTP", dependencies: ["Common"]),
        .target(name: "Billing", dependencies: ["Common", "Postgres"]),
        .target(
            name: "BillingAPI",
            dependencies: ["Common", "HTTP", "Billing", "Postgres", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Pool",
            dependencies: ["CShim", "FastCGI", "Common", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "billing",
            dependencies: [
                "Pool", "BillingAPI", "Billing", "Postgres", "FastCGI", "HTTP", "Common",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "CommonTests", dependencies: ["Common"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Common"]),
        .testTarget(name: "BillingTests", dependencies: ["Billing", "Common"]),
        .testTarget(name: "PoolTests", dependencies: ["Pool"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "Common"]),
    ],
    swiftLanguageModes: [.v6]
)
