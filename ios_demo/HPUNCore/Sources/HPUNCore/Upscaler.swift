import Foundation

/// Where the LR pixels come from, a row segment at a time (an array, a CGImage, a region decoder).
public protocol ARGBSource {
    var width: Int { get }
    var height: Int { get }
    /// Copy pixels [x0, x0 + count) of row y (inside the image) into dst[0..<count].
    func readRow(_ y: Int, x0: Int, count: Int, into dst: inout [UInt32])
}

/// Where the SR pixels go: complete output rows [y0, y0 + rows) of the full width, top to bottom.
public protocol ARGBSink: AnyObject {
    func band(_ argb: [UInt32], width: Int, y0: Int, rows: Int) throws
}

/// A model of one fixed tile: float32 CHW (3 x tile x tile) in [0, 1] -> 3 x (tile*scale)^2.
public protocol TileModel {
    var tile: Int { get }
    var scale: Int { get }
    func run(_ chw: [Float]) throws -> [Float]
}

public struct ArrayImage: ARGBSource {
    public let pixels: [UInt32]
    public let width: Int, height: Int
    public init(_ pixels: [UInt32], width: Int, height: Int) {
        precondition(pixels.count == width * height)
        self.pixels = pixels; self.width = width; self.height = height
    }
    public func readRow(_ y: Int, x0: Int, count: Int, into dst: inout [UInt32]) {
        for k in 0..<count { dst[k] = pixels[y * width + x0 + k] }
    }
}

/// Keeps the whole output (for display, when it fits in memory).
public final class ArraySink: ARGBSink {
    public private(set) var pixels: [UInt32]
    public let width: Int, height: Int
    public init(width: Int, height: Int) {
        self.width = width; self.height = height
        pixels = [UInt32](repeating: 0, count: width * height)
    }
    public func band(_ argb: [UInt32], width: Int, y0: Int, rows: Int) {
        for k in 0..<(width * rows) { pixels[y0 * width + k] = argb[k] }
    }
}

/// Writes the output band by band as raw RGBA8 rows to a file (never whole in memory); the app maps
/// the file for a CGImage / ImageIO encoder afterwards.
public final class RawFileSink: ARGBSink {
    private let handle: FileHandle
    public private(set) var rowsWritten = 0
    public init(handle: FileHandle) { self.handle = handle }
    public func band(_ argb: [UInt32], width: Int, y0: Int, rows: Int) throws {
        guard y0 == rowsWritten else { throw HPUNError("bands out of order: row \(y0), expected \(rowsWritten)") }
        var bytes = [UInt8](repeating: 255, count: 4 * width * rows)
        for k in 0..<(width * rows) {
            let p = argb[k]
            bytes[4 * k] = UInt8((p >> 16) & 0xff); bytes[4 * k + 1] = UInt8((p >> 8) & 0xff); bytes[4 * k + 2] = UInt8(p & 0xff)
        }
        do { try handle.write(contentsOf: bytes) } catch { throw HPUNError("cannot write the result: \(error.localizedDescription)") }
        rowsWritten += rows
    }
}

public struct UpscaleStats {
    public let tiles: Int
    public let tileSeconds: [Double]
    public let totalSeconds: Double
    public let bufferBytes: Int
    public var meanTileMilliseconds: Double { tiles == 0 ? 0 : tileSeconds.reduce(0, +) * 1000 / Double(tiles) }
}

public enum TiledUpscaler {
    /// Bytes of the buffers `run` allocates for an image of this width.
    public static func bufferBytes(width: Int, tile: Int, scale: Int) -> Int {
        let ts = tile * scale, outW = max(width + width % 2, tile) * scale
        return 4 * (3 * tile * tile + tile + outW * ts) + 4 * 3 * ts * ts
    }

    /// Upscale `src` into `sink`, crop-and-stitch; `gray`: output the mean of the three channels.
    /// `progress(index, count, seconds)` returns false to cancel.
    @discardableResult
    public static func run(_ src: ARGBSource, model: TileModel, overlap: Int, gray: Bool, sink: ARGBSink,
                           progress: ((Int, Int, Double) -> Bool)? = nil) throws -> UpscaleStats {
        let tile = model.tile, s = model.scale
        let plan: TilePlan
        do { plan = try TilePlan(width: src.width, height: src.height, tile: tile, overlap: overlap) } catch let e as HPUNError {
            throw HPUNError("cannot tile: \(e.message)")
        }
        let outW = src.width * s, outH = src.height * s, ts = tile * s, count = plan.tileCount
        var input = [Float](repeating: 0, count: 3 * tile * tile)
        var row = [UInt32](repeating: 0, count: tile)
        var band = [UInt32](repeating: 0, count: outW * ts)
        var times: [Double] = []
        let t0 = Date()
        var index = 0
        for sy in plan.rows {
            let by0 = sy.keepStart * s, by1 = min(sy.keepStop * s, outH)
            for sx in plan.cols {
                let ti = Date()
                Pixels.readTile(src, x0: sx.start, y0: sy.start, tw: tile, th: tile, into: &input, row: &row)
                let out: [Float]
                do { out = try model.run(input) } catch let e as HPUNError { throw e } catch {
                    throw HPUNError("the model failed on tile \(index + 1) of \(count): \(error)")
                }
                guard out.count == 3 * ts * ts else {
                    throw HPUNError("the model returned \(out.count) values for a tile, expected 3 x \(ts) x \(ts) (scale x\(s), tile \(tile))")
                }
                let oy = (sy.keepStart - sy.start) * s, ox = (sx.keepStart - sx.start) * s
                let bx0 = sx.keepStart * s, bx1 = min(sx.keepStop * s, outW)
                if by1 > by0 && bx1 > bx0 {
                    for y in by0..<by1 {
                        let srcRow = (oy + y - by0) * ts + ox, dst = (y - by0) * outW
                        for x in bx0..<bx1 { band[dst + x] = Pixels.toARGB(out, plane: ts * ts, srcRow + x - bx0, gray: gray) }
                    }
                }
                times.append(Date().timeIntervalSince(ti))
                index += 1
                if let p = progress, !p(index, count, times[index - 1]) {
                    throw HPUNError("cancelled after \(index) of \(count) tiles")
                }
            }
            if by1 > by0 { try sink.band(band, width: outW, y0: by0, rows: by1 - by0) }
        }
        return UpscaleStats(tiles: count, tileSeconds: times, totalSeconds: Date().timeIntervalSince(t0),
                            bufferBytes: bufferBytes(width: src.width, tile: tile, scale: s))
    }
}
