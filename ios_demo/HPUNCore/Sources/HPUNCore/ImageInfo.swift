import Foundation

/// What a photo file is, from its first bytes: format, size, bit depth, channels; and the app's policy
/// for images that are not plain 8-bit RGB (the same as the Android app's): gray runs replicated and
/// comes out gray; 16-bit is reduced to 8 bits; palette and alpha are expanded / dropped; CMYK and
/// 12-bit JPEG are refused with a message. Never throws on bad bytes.
public struct ImageInfo {
    public var format: String?
    public var width = -1, height = -1, bitDepth = 8, channels = 3
    public var gray = false, alpha = false, palette = false, cmyk = false
    public var problem: String?
    public var notes: [String] = []

    public static func sniff(_ head: [UInt8]) -> ImageInfo {
        let h = head, n = head.count
        func ascii(_ o: Int, _ l: Int) -> String { n >= o + l ? String(decoding: h[o..<(o + l)], as: UTF8.self) : "" }
        var info = ImageInfo()
        if n >= 8, h[0] == 0x89, ascii(1, 3) == "PNG" {
            info.format = "png"
            guard n >= 26, ascii(12, 4) == "IHDR" else {
                info.problem = "a truncated or damaged PNG (no IHDR header)"; return info
            }
            func be32(_ i: Int) -> Int { Int(h[i]) << 24 | Int(h[i + 1]) << 16 | Int(h[i + 2]) << 8 | Int(h[i + 3]) }
            info.width = be32(16); info.height = be32(20); info.bitDepth = Int(h[24])
            switch h[25] {
            case 0: info.gray = true; info.channels = 1
            case 2: info.channels = 3
            case 3: info.palette = true; info.bitDepth = 8
            case 4: info.gray = true; info.alpha = true; info.channels = 2
            case 6: info.alpha = true; info.channels = 4
            default: info.problem = "a PNG of unknown colour type \(h[25])"
            }
            if info.gray && info.bitDepth < 8 { info.bitDepth = 8 }
            if info.width <= 0 || info.height <= 0 { info.problem = "a PNG of \(info.width)x\(info.height) pixels" }
        } else if n >= 3, h[0] == 0xff, h[1] == 0xd8, h[2] == 0xff {
            info.format = "jpeg"
            var i = 2, found = false
            while i + 4 <= n {
                if h[i] != 0xff { i += 1; continue }
                let m = h[i + 1]
                if m == 0xff { i += 1; continue }
                if m == 0xd8 || m == 0x01 || (0xd0...0xd7).contains(m) { i += 2; continue }
                let len = Int(h[i + 2]) << 8 | Int(h[i + 3])
                if (0xc0...0xcf).contains(m) && m != 0xc4 && m != 0xc8 && m != 0xcc {
                    if i + 10 > n { break }
                    info.bitDepth = Int(h[i + 4])
                    info.height = Int(h[i + 5]) << 8 | Int(h[i + 6])
                    info.width = Int(h[i + 7]) << 8 | Int(h[i + 8])
                    info.channels = Int(h[i + 9])
                    info.gray = info.channels == 1
                    info.cmyk = info.channels == 4
                    if ![1, 3, 4].contains(info.channels) { info.problem = "a JPEG with \(info.channels) colour components" }
                    found = true
                    break
                }
                if m == 0xda || m == 0xd9 { break }
                i += 2 + len
            }
            if !found { info.notes.append("JPEG header not fully read: size known after decoding") }
        } else if n >= 12, ascii(0, 4) == "RIFF", ascii(8, 4) == "WEBP" {
            info.format = "webp"
        } else if ascii(0, 4) == "GIF8" {
            info.format = "gif"
        } else if n >= 2, h[0] == 0x42, h[1] == 0x4d {
            info.format = "bmp"
        } else if n >= 12, ascii(4, 4) == "ftyp" {
            info.format = "heif"
        } else {
            let bytes = h.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            info.problem = n == 0 ? "an empty file, not a photo"
                : "not an image this app can read (PNG, JPEG, WebP, GIF, BMP, HEIF); it starts with bytes \(bytes)"
            return info
        }
        if info.problem == nil { info.applyPolicy() }
        return info
    }

    mutating func applyPolicy() {
        if gray { notes.append("gray image: run as RGB (replicated), the result is gray (the mean of the three outputs)") }
        if palette { notes.append("palette image: expanded to RGB") }
        if alpha { notes.append("transparency is dropped: the model works on RGB") }
        if bitDepth == 16 { notes.append("16-bit image: reduced to 8 bits per channel (the model works on 8-bit RGB)") }
        if cmyk {
            problem = "a CMYK JPEG: the model works on RGB; convert the photo to RGB first"
        } else if format == "jpeg" && bitDepth != 8 {
            problem = "a \(bitDepth)-bit JPEG: only 8-bit JPEGs can be decoded; convert it to 8-bit first"
        } else if bitDepth != 8 && bitDepth != 16 && !(palette || gray) {
            problem = "a \(bitDepth)-bit image: only 8 and 16 bits per channel are supported"
        }
    }
}

/// How to fit a photo's upscaling into memory (as the Android app's MemoryPlan): tiling bounds the
/// model to one tile; the output is held whole only when it fits, else written band by band to a file.
public struct MemoryPlan {
    public enum Mode: Equatable { case inMemory, streamToFile, refuse }
    public let mode: Mode
    public let sampleSize: Int, width: Int, height: Int
    public let message: String?

    public static func plan(width: Int, height: Int, scale: Int, tile: Int, budget: Int, compare: Bool) -> MemoryPlan {
        guard width > 0, height > 0 else {
            return MemoryPlan(mode: .refuse, sampleSize: 1, width: width, height: height,
                              message: "the photo has no pixels (\(width)x\(height))")
        }
        func mb(_ b: Int) -> Int { (b + (1 << 20) - 1) >> 20 }
        var sample = 1
        while sample <= 64 {
            let w = (width + sample - 1) / sample, h = (height + sample - 1) / sample
            let input = 4 * w * h, buffers = TiledUpscaler.bufferBytes(width: w, tile: tile, scale: scale)
            let output = 4 * w * h * scale * scale
            let decoded = sample == 1 ? "" : "decoded at 1/\(sample) (\(w)x\(h)) to fit memory; "
            if input + buffers + output * (compare ? 2 : 1) <= budget {
                return MemoryPlan(mode: .inMemory, sampleSize: sample, width: w, height: h,
                                  message: sample == 1 ? nil : "the photo is \(width)x\(height): " + decoded.replacingOccurrences(of: "; ", with: ""))
            }
            if input + buffers + 4 * w * scale * 2 <= budget {
                return MemoryPlan(mode: .streamToFile, sampleSize: sample, width: w, height: h,
                                  message: "the photo is \(width)x\(height): \(decoded)the \(w * scale)x\(h * scale) result (\(mb(output)) MB) "
                                      + "is written tile row by tile row to a file instead of shown")
            }
            sample *= 2
        }
        return MemoryPlan(mode: .refuse, sampleSize: 64, width: width, height: height,
                          message: "the photo is \(width)x\(height): too large for the \(mb(budget)) MB this app may use, even decoded at 1/64")
    }
}
