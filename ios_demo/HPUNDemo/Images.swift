#if canImport(CoreGraphics) && canImport(ImageIO)
import CoreGraphics
import Foundation
import HPUNCore
import ImageIO

/// CGImage <-> the core's packed 0xAARRGGBB pixels; 16-bit, gray, palette and CMYK-free images are
/// redrawn into 8-bit sRGB first (ImageInfo decides what is refused before this).
enum Images {
    static func pixels(of image: CGImage) -> ArrayImage {
        let w = image.width, h = image.height
        var px = [UInt32](repeating: 0, count: w * h)
        let info = CGImageAlphaInfo.noneSkipFirst.rawValue | CGBitmapInfo.byteOrder32Little.rawValue
        px.withUnsafeMutableBytes { buf in
            let ctx = CGContext(data: buf.baseAddress, width: w, height: h, bitsPerComponent: 8, bytesPerRow: 4 * w,
                                space: CGColorSpace(name: CGColorSpace.sRGB)!, bitmapInfo: info)!
            ctx.draw(image, in: CGRect(x: 0, y: 0, width: w, height: h))
        }
        return ArrayImage(px.map { $0 | 0xff00_0000 }, width: w, height: h)
    }

    static func image(_ px: [UInt32], width: Int, height: Int) -> CGImage? {
        let info = CGImageAlphaInfo.noneSkipFirst.rawValue | CGBitmapInfo.byteOrder32Little.rawValue
        let data = px.withUnsafeBytes { Data($0) } as CFData
        guard let provider = CGDataProvider(data: data) else { return nil }
        return CGImage(width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: 4 * width,
                       space: CGColorSpace(name: CGColorSpace.sRGB)!, bitmapInfo: CGBitmapInfo(rawValue: info),
                       provider: provider, decode: nil, shouldInterpolate: false, intent: .defaultIntent)
    }

    /// The "before": Core Graphics' high-quality (bicubic-class) resampling to the output size.
    static func bicubic(_ image: CGImage, scale: Int) -> CGImage? {
        let w = image.width * scale, h = image.height * scale
        let ctx = CGContext(data: nil, width: w, height: h, bitsPerComponent: 8, bytesPerRow: 0,
                            space: CGColorSpace(name: CGColorSpace.sRGB)!,
                            bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue)
        ctx?.interpolationQuality = .high
        ctx?.draw(image, in: CGRect(x: 0, y: 0, width: w, height: h))
        return ctx?.makeImage()
    }

    /// A RawFileSink's RGBA rows -> PNG file, through a mapped file (the output is never in memory twice).
    static func pngFromRaw(_ raw: URL, width: Int, height: Int, to png: URL) throws {
        guard let provider = CGDataProvider(url: raw as CFURL),
              let img = CGImage(width: width, height: height, bitsPerComponent: 8, bitsPerPixel: 32, bytesPerRow: 4 * width,
                                space: CGColorSpace(name: CGColorSpace.sRGB)!,
                                bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.noneSkipLast.rawValue),
                                provider: provider, decode: nil, shouldInterpolate: false, intent: .defaultIntent),
              let dest = CGImageDestinationCreateWithURL(png as CFURL, "public.png" as CFString, 1, nil) else {
            throw HPUNError("cannot encode the result")
        }
        CGImageDestinationAddImage(dest, img, nil)
        guard CGImageDestinationFinalize(dest) else { throw HPUNError("cannot write the PNG") }
    }
}
#endif
