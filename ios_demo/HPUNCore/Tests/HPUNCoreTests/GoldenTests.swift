import Foundation
import XCTest
@testable import HPUNCore

/// The core against the golden vectors that `python scripts/golden_vectors.py` writes (demo_golden/).
func goldenDir() -> URL {
    if let env = ProcessInfo.processInfo.environment["HPUN_GOLDEN"] { return URL(fileURLWithPath: env) }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../../demo_golden").standardized
}

func golden(_ name: String) throws -> JSON {
    let url = goldenDir().appendingPathComponent(name)
    return try JSON.parse(String(contentsOf: url, encoding: .utf8))
}

extension JSON {
    var array: [JSON] { if case .array(let a) = self { return a }; return [] }
    var int: Int { if case .int(let i) = self { return Int(i) }; return Int.min }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var float: Float {
        switch self { case .double(let d): return Float(d); case .int(let i): return Float(i); default: return .nan }
    }
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count / 2)
    var it = s.utf8.makeIterator()
    func nib(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x61 + 10 }
    while let a = it.next(), let b = it.next() { out.append(nib(a) << 4 | nib(b)) }
    return out
}

/// scripts/golden_vectors.py: fake_model, float for float.
struct FakeModel: TileModel {
    let tile: Int, scale: Int
    func run(_ input: [Float]) throws -> [Float] {
        let ts = tile * scale, plane = ts * ts
        var out = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 { for y in 0..<ts { for x in 0..<ts {
            let v: Float = input[c * tile * tile + (y / scale) * tile + x / scale] * 0.5
            let pattern: Float = Float((y * 3 + x * 5 + c * 7) % 32) / 64
            out[c * plane + y * ts + x] = v + pattern
        } } }
        return out
    }
}

final class GoldenTests: XCTestCase {
    func testTileSpansMatchPython() throws {
        let cases = try golden("tiles.json")["cases"]!.array
        XCTAssertGreaterThan(cases.count, 50)
        for c in cases {
            let (l, t, o) = (c["length"]!.int, c["tile"]!.int, c["overlap"]!.int)
            if let err = c["error"]?.string {
                XCTAssertThrowsError(try tileSpans(l, tile: t, overlap: o)) { XCTAssertEqual(($0 as! HPUNError).message, err) }
            } else {
                let want = c["spans"]!.array.map { s in Span(s.array[0].int, s.array[1].int, s.array[2].int, s.array[3].int) }
                XCTAssertEqual(try tileSpans(l, tile: t, overlap: o), want, "tile_spans(\(l), \(t), \(o))")
            }
        }
    }

    func testStitchedOutputsMatchPython() throws {
        for c in try golden("stitch.json")["cases"]!.array {
            let (h, w, s) = (c["height"]!.int, c["width"]!.int, c["scale"]!.int)
            let (tile, overlap) = (c["tile"]!.int, c["overlap"]!.int)
            let gray = c["gray"]! == .bool(true)
            let input = hexBytes(c["input"]!.string!), want = hexBytes(c["output"]!.string!)
            var argb = [UInt32](repeating: 0, count: w * h)
            for k in 0..<(w * h) {
                let (r, g, b) = gray ? (input[k], input[k], input[k]) : (input[3 * k], input[3 * k + 1], input[3 * k + 2])
                argb[k] = 0xff00_0000 | UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)
            }
            let sink = ArraySink(width: w * s, height: h * s)
            let st = try TiledUpscaler.run(ArrayImage(argb, width: w, height: h), model: FakeModel(tile: tile, scale: s),
                                           overlap: overlap, gray: gray, sink: sink)
            XCTAssertEqual(st.tiles, c["tiles"]!.int)
            var bad = 0
            for (k, p) in sink.pixels.enumerated() {
                let (r, g, b) = (UInt8((p >> 16) & 0xff), UInt8((p >> 8) & 0xff), UInt8(p & 0xff))
                if gray { bad += want[k] == b && r == b && g == b ? 0 : 1 }
                else { bad += want[3 * k] == r && want[3 * k + 1] == g && want[3 * k + 2] == b ? 0 : 1 }
            }
            XCTAssertEqual(bad, 0, "\(h)x\(w) gray=\(gray) x\(s) tile \(tile)/\(overlap): pixels that differ from Python")
        }
    }

    func testPixelConversionsMatchPython() throws {
        let p = try golden("pixels.json")
        let planes = p["to_float"]!["planes"]!.array
        for k in 0..<256 {
            let u = [k, 255 - k, (k % 16) * 16 + k / 16]
            for c in 0..<3 { XCTAssertEqual(Pixels.toFloat(u[c]).bitPattern, planes[c].array[k].float.bitPattern, "to_float(\(u[c]))") }
        }
        let values = p["to_uint8"]!["values"]!.array, expected = p["to_uint8"]!["expected"]!.array
        for (v, e) in zip(values, expected) { XCTAssertEqual(Pixels.toUInt8(v.float), e.int, "to_uint8(\(v.float))") }
        let rgb = p["gray_mean"]!["rgb"]!.array, gexp = p["gray_mean"]!["expected"]!.array
        for (t, e) in zip(rgb, gexp) {
            XCTAssertEqual(Pixels.grayMean(t.array[0].float, t.array[1].float, t.array[2].float), e.int)
        }
        XCTAssertEqual(Pixels.toUInt8(.nan), 0)
        let chw = (0..<48).map { Float($0) }
        XCTAssertEqual(Pixels.hwcToChw(Pixels.chwToHwc(chw, n: 4), n: 4), chw)
    }

    func testSidecarsParseAsPythonDoes() throws {
        let doc = try golden("sidecars.json")
        for c in doc["parse"]!.array {
            let name = c["name"]!.string!
            do {
                let sc = try Sidecar.parse(c["text"]!.string!)
                guard let f = c["fields"], f != .null else { return XCTFail("\(name): parsed, Python says \(String(describing: c["error"]))") }
                XCTAssertEqual(sc.target, f["target"]!.string)
                XCTAssertEqual(sc.artifact, f["artifact"]!.string)
                XCTAssertEqual(sc.artifactSha256, f["artifact_sha256"]!.string)
                XCTAssertEqual(Int(sc.artifactBytes), f["artifact_bytes"]!.int)
                XCTAssertEqual(sc.model, f["model"]!.string)
                XCTAssertEqual(sc.precision, f["precision"]!.string)
                XCTAssertEqual(sc.scale, f["scale"]!.int)
                XCTAssertEqual(sc.tile, f["tile"]!.int)
                XCTAssertEqual(sc.inputShape, f["input_shape"]!.array)
                XCTAssertEqual(sc.outputShape, f["output_shape"]!.array)
            } catch let e as HPUNError {
                guard let want = c["error"]?.string else { return XCTFail("\(name): refused (\(e.message)), Python parses it") }
                if want == "json" { XCTAssertTrue(e.message.hasPrefix("not valid JSON"), e.message) } else { XCTAssertEqual(e.message, want, name) }
            }
        }
    }

    func testArtifactChecksMatchPython() throws {
        let doc = try golden("sidecars.json")
        let texts = Dictionary(uniqueKeysWithValues: doc["parse"]!.array.map { ($0["name"]!.string!, $0["text"]!.string!) })
        for c in doc["checks"]!.array {
            let sc = try Sidecar.parse(texts[c["sidecar"]!.string!]!)
            func shape(_ j: JSON) -> [Int]? { j == .null ? nil : j.array.map { $0.int } }
            let got = ArtifactCheck.problem(sc, fileName: c["file"]!.string!, fileBytes: Int64(c["bytes"]!.int),
                                            sha256: c["sha256"]!.string, runtimeInput: shape(c["runtime_input"]!),
                                            runtimeOutput: shape(c["runtime_output"]!))
            XCTAssertEqual(got, c["problem"]!.string, c["name"]!.string!)
        }
    }

    func testJSONParserEdgeCases() throws {
        let v = try JSON.parse(#" {"a": [1, -2.5e1, true, null, "\u00e9\n\ud83d\ude00"], "b": {}} "#)
        XCTAssertEqual(v["a"]!.array, [.int(1), .double(-25), .bool(true), .null, .string("é\n😀")])
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"a", "nul", "{} x", "\"\t\"", "NaN"] {
            XCTAssertThrowsError(try JSON.parse(bad), bad)
        }
    }
}
