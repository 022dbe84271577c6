import Foundation

/// The artifact sidecar `<artifact>.json` (`hpun_edge.converters.Sidecar`, format hpun-edge-artifact/1),
/// parsed with the same checks and messages as `Sidecar.from_json`.
public struct Sidecar {
    public static let format = "hpun-edge-artifact/1"
    static let required = ["target", "artifact", "artifact_sha256", "artifact_bytes", "source", "source_sha256",
                           "model", "scale", "precision", "tile", "input_shape", "output_shape"]

    public let target, artifact, artifactSha256, model, precision: String
    public let artifactBytes: Int64
    public let scale, tile: Int
    public let inputShape, outputShape: [JSON]
    public let raw: JSON

    /// Parse; throws `HPUNError` with Python's message (JSON syntax errors: "not valid JSON (...)").
    public static func parse(_ text: String) throws -> Sidecar {
        let data: JSON
        do { data = try JSON.parse(text) } catch let e as HPUNError { throw HPUNError("not valid JSON (\(e.message))") }
        guard case .object(let d, _) = data else { throw HPUNError("not a JSON object") }
        if d["format"] != .string(format) {
            throw HPUNError("format \(repr(d["format"])), expected \(repr(.string(format)))")
        }
        let missing = required.filter { d[$0] == nil }
        if !missing.isEmpty { throw HPUNError("missing field(s) \(missing.joined(separator: ", "))") }
        for k in ["scale", "tile", "artifact_bytes"] {
            guard case .int = d[k]! else { throw HPUNError("\(k) is not an integer") }
        }
        for k in ["input_shape", "output_shape"] {
            guard case .array(let a) = d[k]!, a.count == 4 else { throw HPUNError("\(k) is not a 4-d shape") }
        }
        func int(_ k: String) -> Int64 { if case .int(let v) = d[k]! { return v }; return 0 }
        func arr(_ k: String) -> [JSON] { if case .array(let a) = d[k]! { return a }; return [] }
        func clamp(_ v: Int64) -> Int { v > Int64(Int32.max) || v < Int64(Int32.min) ? 0 : Int(v) }
        return Sidecar(target: str(d["target"]), artifact: str(d["artifact"]), artifactSha256: str(d["artifact_sha256"]),
                       model: str(d["model"]), precision: str(d["precision"]), artifactBytes: int("artifact_bytes"),
                       scale: clamp(int("scale")), tile: clamp(int("tile")),
                       inputShape: arr("input_shape"), outputShape: arr("output_shape"), raw: data)
    }

    static func str(_ v: JSON?) -> String {
        if case .string(let s)? = v { return s }
        return repr(v)
    }

    /// The shape as ints, or nil where an element is not an integer.
    public static func ints(_ shape: [JSON]) -> [Int]? {
        var out: [Int] = []
        for v in shape { guard case .int(let i) = v else { return nil }; out.append(Int(i)) }
        return out
    }

    /// Python's repr() of a JSON value (messages match hpun_edge.converters.sidecar word for word).
    public static func repr(_ v: JSON?) -> String {
        guard let v = v else { return "None" }
        switch v {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e16 ? String(format: "%.1f", d) : String(d)
        case .array(let a): return "[" + a.map { repr($0) }.joined(separator: ", ") + "]"
        case .object: return "{...}"
        case .string(let s):
            let q: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = String(q)
            for c in s {
                switch c {
                case "\\", q: out += "\\" + String(c)
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default: out.append(c)
                }
            }
            return out + String(q)
        }
    }
}

/// The check of a model file against its sidecar, before and after loading: the reference is
/// `scripts/golden_vectors.py: artifact_problem` (same order, same words).
public enum ArtifactCheck {
    public static func target(of fileName: String) -> String? {
        for (suffix, t) in [(".pte", "executorch"), (".tflite", "litert"), (".mlpackage", "coreml"), (".onnx", "onnx")]
        where fileName.hasSuffix(suffix) { return t }
        return nil
    }

    public static func problem(_ sc: Sidecar, fileName: String, fileBytes: Int64, sha256: String?,
                               runtimeInput: [Int]?, runtimeOutput: [Int]?) -> String? {
        guard let target = target(of: fileName) else { return "\(fileName): not a model file (.pte, .tflite, .mlpackage)" }
        if target != sc.target { return "\(fileName): the sidecar is for a \(sc.target) artifact, the file is \(target)" }
        if sc.tile <= 0 || sc.tile % 2 != 0 || !(2...4).contains(sc.scale) {
            return "\(fileName): the sidecar's tile \(sc.tile) / scale \(sc.scale) is not usable"
        }
        let wantIn = [1, 3, sc.tile, sc.tile], wantOut = [1, 3, sc.tile * sc.scale, sc.tile * sc.scale]
        if Sidecar.ints(sc.inputShape) != wantIn || Sidecar.ints(sc.outputShape) != wantOut {
            return "\(fileName): the sidecar's shapes \(Sidecar.repr(.array(sc.inputShape))) -> \(Sidecar.repr(.array(sc.outputShape))) "
                + "disagree with its tile \(sc.tile) and scale x\(sc.scale)"
        }
        if fileBytes != sc.artifactBytes {
            let what = fileBytes < sc.artifactBytes ? "truncated" : "not the exported file"
            return "\(fileName): \(what): \(fileBytes) bytes, the sidecar records \(sc.artifactBytes)"
        }
        if let sha = sha256, sha != sc.artifactSha256 {
            return "\(fileName): contents differ from the exported file (sha256 \(sha.prefix(12))...)"
        }
        if let r = runtimeInput, r != wantIn {
            return "\(fileName): the model takes \(shape(r)), the sidecar says \(shape(wantIn)) (tile \(sc.tile))"
        }
        if let r = runtimeOutput, r != wantOut {
            return "\(fileName): the model returns \(shape(r)), the sidecar says \(shape(wantOut)) (scale x\(sc.scale))"
        }
        return nil
    }

    public static func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
}
