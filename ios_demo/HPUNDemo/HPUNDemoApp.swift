// The SwiftUI app (Xcode, iOS 16+). Not part of the HPUNCore package: SwiftUI, PhotosUI and Core ML
// exist on Apple platforms only, so none of this compiles on Linux (see ios_demo/README.md).
#if canImport(SwiftUI) && canImport(CoreML)
import SwiftUI

@main
struct HPUNDemoApp: App {
    var body: some Scene {
        WindowGroup { ContentView() }
    }
}
#endif
