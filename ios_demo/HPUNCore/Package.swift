// swift-tools-version:5.9
// HPUNCore: the demo's model-agnostic core (tiling, stitching, pixel conversion, sidecar parsing),
// Foundation only, so `swift test` runs on Linux too. The app (ios_demo/HPUNDemo) adds Core ML + SwiftUI.
import PackageDescription

let package = Package(
    name: "HPUNCore",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [.library(name: "HPUNCore", targets: ["HPUNCore"])],
    targets: [
        .target(name: "HPUNCore"),
        .testTarget(name: "HPUNCoreTests", dependencies: ["HPUNCore"]),
    ]
)
