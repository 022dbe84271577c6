import Foundation

/// 8-bit pixels <-> float32 planar CHW in [0, 1], as `image_to_tensor` / `tensor_to_image` do:
/// v / 255 in; clamp(0, 1) * 255 + 0.5 floored out (NaN becomes 0). Pixels are packed 0xAARRGGBB.
public enum Pixels {
    @inline(never) public static func toFloat(_ v: Int) -> Float { Float(v) / 255 }

    @inline(never) public static func toUInt8(_ v: Float) -> Int {
        if v.isNaN { return 0 }
        let c = min(max(v, 0), 1)
        let s: Float = c * 255
        let t: Float = s + 0.5
        return Int(t.rounded(.down))
    }

    /// A gray image's output: the mean of the three channels' floats, quantised.
    public static func grayMean(_ r: Float, _ g: Float, _ b: Float) -> Int {
        let sum: Float = r + g
        let sum3: Float = sum + b
        return toUInt8(sum3 / 3)
    }

    /// Fill `chw` (3 x th x tw) from the image at (x0, y0), replicating edge pixels past the image:
    /// the padding of tiled_forward.
    public static func readTile(_ src: ARGBSource, x0: Int, y0: Int, tw: Int, th: Int,
                                into chw: inout [Float], row: inout [UInt32]) {
        let plane = tw * th
        let inW = min(tw, src.width - x0)
        for y in 0..<th {
            src.readRow(min(y0 + y, src.height - 1), x0: x0, count: inW, into: &row)
            let o = y * tw
            for x in 0..<tw {
                let p = row[min(x, inW - 1)]
                chw[o + x] = toFloat(Int((p >> 16) & 0xff))
                chw[plane + o + x] = toFloat(Int((p >> 8) & 0xff))
                chw[2 * plane + o + x] = toFloat(Int(p & 0xff))
            }
        }
    }

    /// One output pixel from planar CHW floats at index i.
    public static func toARGB(_ chw: [Float], plane: Int, _ i: Int, gray: Bool) -> UInt32 {
        let r = chw[i], g = chw[plane + i], b = chw[2 * plane + i]
        if gray {
            let v = UInt32(grayMean(r, g, b))
            return 0xff00_0000 | (v << 16) | (v << 8) | v
        }
        return 0xff00_0000 | (UInt32(toUInt8(r)) << 16) | (UInt32(toUInt8(g)) << 8) | UInt32(toUInt8(b))
    }

    /// Planar CHW (3 x n x n) -> interleaved HWC, and back (for models made channel-last).
    public static func chwToHwc(_ chw: [Float], n: Int) -> [Float] {
        let plane = n * n
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { out[3 * i + c] = chw[c * plane + i] } }
        return out
    }

    public static func hwcToChw(_ hwc: [Float], n: Int) -> [Float] {
        let plane = n * n
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane { for c in 0..<3 { out[c * plane + i] = hwc[3 * i + c] } }
        return out
    }
}
