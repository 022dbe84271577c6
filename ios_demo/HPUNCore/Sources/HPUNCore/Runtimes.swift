/// Which model runtimes this build of the app has, decided at compile time: Core ML exists on Apple
/// platforms only (on Linux the package builds without it and says so); ExecuTorch only when its
/// Swift package is linked. The app shows `missing(...)` instead of crashing.
public enum Runtime: String, CaseIterable {
    case coreML = "Core ML"
    case executorch = "ExecuTorch"

    public var available: Bool {
        switch self {
        case .coreML:
            #if canImport(CoreML)
            return true
            #else
            return false
            #endif
        case .executorch:
            #if canImport(ExecuTorch)
            return true
            #else
            return false
            #endif
        }
    }

    /// nil when available, else a message for the user.
    public var missing: String? {
        if available { return nil }
        switch self {
        case .coreML: return "Core ML is not available on this platform (Apple platforms only)"
        case .executorch: return "ExecuTorch is not in this build of the app (add the executorch Swift package in Xcode)"
        }
    }

    /// A message for an error a runtime raised while loading a model file.
    public static func loadFailure(_ runtime: Runtime, fileName: String, _ error: Error) -> String {
        let first = String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        return "\(fileName): the \(runtime.rawValue) runtime cannot load it (\(first))"
    }
}
