import Foundation
import XCTest
@testable import HPUNCore

/// A virtual photo: pixels computed on demand, never held.
struct VirtualImage: ARGBSource {
    let width: Int, height: Int
    func readRow(_ y: Int, x0: Int, count: Int, into dst: inout [UInt32]) {
        precondition(y >= 0 && y < height && x0 >= 0 && x0 + count <= width, "read outside the image")
        for k in 0..<count { dst[k] = 0xff00_0000 | UInt32(((x0 + k) * 7 + y) & 0xff) << 8 | UInt32(y & 0xff) }
    }
}

final class CountingSink: ARGBSink {
    var rows = 0, maxBand = 0, width = 0
    func band(_ argb: [UInt32], width: Int, y0: Int, rows n: Int) throws {
        precondition(y0 == rows, "bands in order")
        self.width = width; rows += n; maxBand = max(maxBand, n)
    }
}

struct ClosureModel: TileModel {
    let tile: Int, scale: Int
    let body: ([Float]) throws -> [Float]
    func run(_ chw: [Float]) throws -> [Float] { try body(chw) }
}

struct RuntimeFailure: Error, CustomStringConvertible {
    var description: String { "Execution failed with status 0x12\nmore lines" }
}

final class BadInputTests: XCTestCase {
    // photo larger than memory allows at once: band by band, bounded buffers
    func testHugePhotoIsUpscaledBandByBandWithinBoundedMemory() throws {
        let (w, h, s, tile) = (1501, 1001, 2, 64)
        let sink = CountingSink()
        let st = try TiledUpscaler.run(VirtualImage(width: w, height: h), model: FakeModel(tile: tile, scale: s),
                                       overlap: 8, gray: false, sink: sink)
        XCTAssertEqual(sink.rows, h * s)
        XCTAssertEqual(sink.width, w * s)
        XCTAssertLessThanOrEqual(sink.maxBand, tile * s)
        XCTAssertLessThan(st.bufferBytes * 10, 4 * w * h * s * s)
        XCTAssertEqual(st.tileSeconds.count, st.tiles)
        let p = MemoryPlan.plan(width: 3001, height: 2001, scale: 2, tile: 128, budget: 64 << 20, compare: true)
        XCTAssertEqual(p.mode, .streamToFile, p.message ?? "")
        let big = MemoryPlan.plan(width: 40000, height: 30000, scale: 4, tile: 128, budget: 256 << 20, compare: true)
        XCTAssertTrue(big.sampleSize > 1 && big.mode != .refuse, big.message ?? "")
        let none = MemoryPlan.plan(width: 4000, height: 3000, scale: 4, tile: 128, budget: 1 << 20, compare: true)
        XCTAssertEqual(none.mode, .refuse)
        XCTAssertTrue(none.message!.contains("too large"))
        XCTAssertEqual(MemoryPlan.plan(width: 640, height: 480, scale: 2, tile: 128, budget: 256 << 20, compare: true).mode, .inMemory)
    }

    func testRawFileSinkWritesTheSameRowsAsTheInMemoryResult() throws {
        let (w, h, s) = (101, 37, 3)
        let whole = ArraySink(width: w * s, height: h * s)
        try TiledUpscaler.run(VirtualImage(width: w, height: h), model: FakeModel(tile: 16, scale: s), overlap: 3, gray: false, sink: whole)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hpun-\(UUID().uuidString).rgba")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: url) }
        let fh = try FileHandle(forWritingTo: url)
        try TiledUpscaler.run(VirtualImage(width: w, height: h), model: FakeModel(tile: 16, scale: s), overlap: 3, gray: false,
                              sink: RawFileSink(handle: fh))
        try fh.close()
        let bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertEqual(bytes.count, 4 * w * s * h * s)
        var bad = 0
        for (k, p) in whole.pixels.enumerated() {
            bad += bytes[4 * k] == UInt8((p >> 16) & 0xff) && bytes[4 * k + 1] == UInt8((p >> 8) & 0xff) && bytes[4 * k + 2] == UInt8(p & 0xff) ? 0 : 1
        }
        XCTAssertEqual(bad, 0)
    }

    // non-RGB or 16-bit image
    func pngHead(_ w: Int, _ h: Int, _ depth: UInt8, _ type: UInt8) -> [UInt8] {
        var b: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]
        for v in [w, h] { b += [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return b + [depth, type, 0, 0, 0, 0, 0, 0, 0]
    }

    func jpegHead(_ depth: UInt8, _ comps: UInt8) -> [UInt8] {
        [0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, depth, 0x01, 0x00, 0x02, 0x00, comps, 1, 0x11, 0]
    }

    func testNonRgbAnd16BitImagesGetAPolicyOrAMessage() throws {
        let rgb = ImageInfo.sniff(pngHead(640, 480, 8, 2))
        XCTAssertTrue(rgb.problem == nil && rgb.notes.isEmpty && rgb.width == 640 && rgb.height == 480)
        let g16 = ImageInfo.sniff(pngHead(64, 48, 16, 0))
        XCTAssertTrue(g16.problem == nil && g16.gray && g16.bitDepth == 16)
        XCTAssertTrue(g16.notes.joined().contains("16-bit") && g16.notes.joined().contains("gray"))
        XCTAssertTrue(ImageInfo.sniff(pngHead(64, 48, 16, 6)).notes.joined().contains("transparency"))
        XCTAssertTrue(ImageInfo.sniff(pngHead(64, 48, 8, 3)).palette)
        XCTAssertTrue(ImageInfo.sniff(pngHead(64, 48, 8, 5)).problem!.contains("colour type 5"))
        XCTAssertTrue(ImageInfo.sniff(Array(pngHead(64, 48, 8, 2).prefix(20))).problem!.contains("truncated"))
        XCTAssertTrue(ImageInfo.sniff(jpegHead(8, 4)).problem!.contains("CMYK"))
        XCTAssertTrue(ImageInfo.sniff(jpegHead(12, 3)).problem!.contains("12-bit"))
        let gj = ImageInfo.sniff(jpegHead(8, 1))
        XCTAssertTrue(gj.problem == nil && gj.gray && gj.width == 512 && gj.height == 256)
        XCTAssertTrue(ImageInfo.sniff([]).problem!.contains("empty"))
        XCTAssertTrue(ImageInfo.sniff(Array("%PDF-1.4 hello".utf8)).problem!.contains("25 50 44 46"))
        let out = ArraySink(width: 8, height: 8)
        try TiledUpscaler.run(VirtualImage(width: 4, height: 4), model: FakeModel(tile: 8, scale: 2), overlap: 2, gray: true, sink: out)
        for p in out.pixels { XCTAssertTrue((p >> 16) & 0xff == p & 0xff && (p >> 8) & 0xff == p & 0xff) }
    }

    // model that does not load / run
    func testModelFailuresBecomeMessages() throws {
        var calls = 0
        let throwing = ClosureModel(tile: 16, scale: 2) { x in
            calls += 1
            if calls == 3 { throw RuntimeFailure() }
            return try FakeModel(tile: 16, scale: 2).run(x)
        }
        XCTAssertThrowsError(try TiledUpscaler.run(VirtualImage(width: 60, height: 40), model: throwing, overlap: 4, gray: false,
                                                   sink: ArraySink(width: 120, height: 80))) {
            XCTAssertTrue(($0 as! HPUNError).message.hasPrefix("the model failed on tile 3 of "), "\($0)")
        }
        let short = ClosureModel(tile: 16, scale: 2) { _ in [Float](repeating: 0, count: 3 * 48 * 48) }
        XCTAssertThrowsError(try TiledUpscaler.run(VirtualImage(width: 20, height: 20), model: short, overlap: 4, gray: false,
                                                   sink: ArraySink(width: 40, height: 40))) {
            XCTAssertTrue(($0 as! HPUNError).message.contains("expected 3 x 32 x 32 (scale x2, tile 16)"), "\($0)")
        }
        XCTAssertEqual(Runtime.loadFailure(.coreML, fileName: "m.mlpackage", RuntimeFailure()),
                       "m.mlpackage: the Core ML runtime cannot load it (Execution failed with status 0x12)")
        XCTAssertThrowsError(try Sidecar.parse(#"{"format": "hpun-edge-artifact/1""#)) {
            XCTAssertTrue(($0 as! HPUNError).message.hasPrefix("not valid JSON"))
        }
        XCTAssertThrowsError(try TiledUpscaler.run(VirtualImage(width: 60, height: 40), model: FakeModel(tile: 16, scale: 2), overlap: 4,
                                                   gray: false, sink: ArraySink(width: 120, height: 80), progress: { i, _, _ in i < 2 })) {
            XCTAssertTrue(($0 as! HPUNError).message.hasPrefix("cancelled after 2 of"))
        }
    }

    // missing runtime
    func testMissingRuntimeIsDetectedNotACrash() {
        #if canImport(CoreML)
        XCTAssertNil(Runtime.coreML.missing)
        #else
        XCTAssertEqual(Runtime.coreML.missing, "Core ML is not available on this platform (Apple platforms only)")
        #endif
        #if !canImport(ExecuTorch)
        XCTAssertTrue(Runtime.executorch.missing!.contains("not in this build"))
        #endif
    }
}
