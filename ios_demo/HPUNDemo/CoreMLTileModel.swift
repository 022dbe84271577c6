#if canImport(CoreML)
import CoreML
import Foundation
import HPUNCore

/// A bundled Core ML artifact (hpun-edge's coreml target: `<name>.mlpackage`, compiled by Xcode into
/// `<name>.mlmodelc`, with its sidecar `<name>.mlpackage.json` in the bundle) as a `TileModel`.
final class CoreMLTileModel: TileModel {
    let tile: Int, scale: Int
    let sidecar: Sidecar
    private let model: MLModel
    private let inputName: String, outputName: String

    /// The .mlpackage names in the app bundle that have a sidecar.
    static func bundled() -> [String] {
        let urls = Bundle.main.urls(forResourcesWithExtension: "json", subdirectory: nil) ?? []
        return urls.map { $0.deletingPathExtension().lastPathComponent }.filter { $0.hasSuffix(".mlpackage") }.sorted()
    }

    /// Load with the chosen compute units, refusing any disagreement between sidecar and model.
    init(name: String, units: MLComputeUnits) throws {
        if let missing = Runtime.coreML.missing { throw HPUNError(missing) }
        guard let scURL = Bundle.main.url(forResource: name, withExtension: "json"),
              let text = try? String(contentsOf: scURL, encoding: .utf8) else {
            throw HPUNError("\(name): no sidecar \(name).json in the app")
        }
        let sc: Sidecar
        do { sc = try Sidecar.parse(text) } catch let e as HPUNError {
            throw HPUNError("\(name): sidecar \(name).json is not usable (\(e.message))")
        }
        let base = (name as NSString).deletingPathExtension
        guard let url = Bundle.main.url(forResource: base, withExtension: "mlmodelc") else {
            throw HPUNError("\(name): not compiled into the app (add the .mlpackage to the target)")
        }
        let config = MLModelConfiguration()
        config.computeUnits = units
        let ml: MLModel
        do { ml = try MLModel(contentsOf: url, configuration: config) } catch {
            throw HPUNError(Runtime.loadFailure(.coreML, fileName: name, error))
        }
        var inName = "lr", outName = "sr"
        if case .string(let s)? = sc.raw["input_name"] { inName = s }
        if case .string(let s)? = sc.raw["output_name"] { outName = s }
        let shapeIn = ml.modelDescription.inputDescriptionsByName[inName]?.multiArrayConstraint?.shape.map { $0.intValue }
        let shapeOut = ml.modelDescription.outputDescriptionsByName[outName]?.multiArrayConstraint?.shape.map { $0.intValue }
        // a compiled .mlmodelc has not the exported package's bytes and sha256: the check uses shapes only
        if let p = ArtifactCheck.problem(sc, fileName: name, fileBytes: sc.artifactBytes, sha256: nil,
                                         runtimeInput: shapeIn, runtimeOutput: (shapeOut?.isEmpty ?? true) ? nil : shapeOut) {
            throw HPUNError(p)
        }
        sidecar = sc
        model = ml
        inputName = inName
        outputName = outName
        tile = sc.tile
        scale = sc.scale
    }

    /// fp16 artifacts on the Neural Engine: known to give SR artifacts (banding, clipped highlights).
    var fp16Note: String? {
        sidecar.precision == "fp16"
            ? "fp16 model: on the Neural Engine fp16 SR outputs are known to show artifacts (banding, clipped highlights); compare with CPU"
            : nil
    }

    func run(_ chw: [Float]) throws -> [Float] {
        let t = tile, ts = tile * scale
        let input = try MLMultiArray(shape: [1, 3, NSNumber(value: t), NSNumber(value: t)], dataType: .float32)
        chw.withUnsafeBufferPointer { src in
            input.dataPointer.assumingMemoryBound(to: Float.self).update(from: src.baseAddress!, count: chw.count)
        }
        let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: [inputName: input]))
        guard let y = out.featureValue(for: outputName)?.multiArrayValue else {
            throw HPUNError("the model returned no '\(outputName)' array")
        }
        var result = [Float](repeating: 0, count: 3 * ts * ts)
        guard y.count == result.count else { return [Float](repeating: 0, count: y.count) } // the core reports the size
        if y.dataType == .float32 {
            let p = y.dataPointer.assumingMemoryBound(to: Float.self)
            for i in 0..<result.count { result[i] = p[i] }
        } else {
            for i in 0..<result.count { result[i] = y[i].floatValue } // fp16 outputs
        }
        return result
    }
}
#endif
