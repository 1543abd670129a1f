// swift-tools-version:6.0
import PackageDescription

/// `any P` spelled out wherever an existential is meant (Swift 7's default).
let settings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "billing",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "billing", targets: ["billing"]),
        .executable(name: "billing-pdf", targets: ["billing-pdf"]),
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
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CPangoCairo",
            pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]
        ),
        .target(name: "CShim"),
        .target(name: "Common", dependencies: ["CShim", "CCrypto"], swiftSettings: settings),
        .target(name: "FastCGI", dependencies: ["CFastCGI", "CShim", "Common"], swiftSettings: settings),
        .target(name: "Postgres", dependencies: ["CLibPQ", "Common"], swiftSettings: settings),
        .target(name: "HTTP", dependencies: ["Common"], swiftSettings: settings),
        .target(name: "Billing", dependencies: ["Common", "Postgres"], swiftSettings: settings),
        .target(
            name: "Webhooks",
            dependencies: ["CCurl", "Common", "Postgres", "Billing", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .target(name: "Documents", dependencies: ["CShim", "Common", "Billing"], swiftSettings: settings),
        // Linked into `billing-pdf` alone: workers render through it and never map pango or cairo.
        .target(name: "PDFRendering", dependencies: ["CPangoCairo", "Common", "Billing"], swiftSettings: settings),
        .executableTarget(
            name: "billing-pdf", dependencies: ["PDFRendering", "Billing", "Common"], swiftSettings: settings),
        .target(
            name: "BillingAPI",
            dependencies: [
                "CShim", "Common", "HTTP", "Billing", "Postgres", "Webhooks", "Documents",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "Pool",
            dependencies: ["CShim", "FastCGI", "Common", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "billing",
            dependencies: [
                "Pool", "BillingAPI", "Billing", "Postgres", "FastCGI", "HTTP", "Common", "Webhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .testTarget(name: "CommonTests", dependencies: ["Common"], swiftSettings: settings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Common"], swiftSettings: settings),
        .testTarget(name: "BillingTests", dependencies: ["Billing", "Common"], swiftSettings: settings),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks", "Billing", "Common"], swiftSettings: settings),
        .testTarget(name: "PoolTests", dependencies: ["Pool"], swiftSettings: settings),
        .testTarget(name: "DocumentsTests", dependencies: ["Documents", "Billing", "Common"], swiftSettings: settings),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "Common"], swiftSettings: settings),
        .testTarget(
            name: "BillingAPITests",
            dependencies: [
                "BillingAPI", "Billing", "HTTP", "Postgres", "Common", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
    ],
    swiftLanguageModes: [.v6]
)
