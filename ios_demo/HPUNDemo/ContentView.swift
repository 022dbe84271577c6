#if canImport(SwiftUI) && canImport(CoreML) && canImport(PhotosUI) && canImport(UIKit)
import CoreML
import HPUNCore
import ImageIO
import PhotosUI
import SwiftUI
import UIKit

/// Pick a photo, a Core ML model and compute units; upscale tile by tile exactly as hpun_edge does
/// (crop-and-stitch); compare with bicubic (drag the divider); see time per tile and total; save.
struct ContentView: View {
    static let overlap = 16 // hpun_edge.inference.DEFAULT_OVERLAP
    enum Units: String, CaseIterable, Identifiable {
        case cpu = "CPU", gpu = "CPU + GPU", ane = "CPU + Neural Engine", all = "All"
        var id: String { rawValue }
        var ml: MLComputeUnits { [.cpu: .cpuOnly, .gpu: .cpuAndGPU, .ane: .cpuAndNeuralEngine, .all: .all][self]! }
    }

    @State private var models = CoreMLTileModel.bundled()
    @State private var modelName = CoreMLTileModel.bundled().first ?? ""
    @State private var units = Units.all
    @State private var pick: PhotosPickerItem?
    @State private var photoData: Data?
    @State private var before: CGImage?
    @State private var after: CGImage?
    @State private var split: CGFloat = 0.5
    @State private var status = "Pick a photo."
    @State private var busy = false

    var body: some View {
        VStack(spacing: 8) {
            if models.isEmpty {
                Text("No Core ML model in the app: add hpun-edge's .mlpackage and its .mlpackage.json to the target.")
                    .font(.footnote)
            }
            Picker("Model", selection: $modelName) { ForEach(models, id: \.self) { Text($0) } }
            Picker("Compute units", selection: $units) { ForEach(Units.allCases) { Text($0.rawValue).tag($0) } }
                .pickerStyle(.segmented)
            HStack {
                PhotosPicker("Photo…", selection: $pick, matching: .images)
                Button("Upscale") { Task { await upscale() } }.disabled(busy || photoData == nil || modelName.isEmpty)
                Button("Save") { save() }.disabled(after == nil || busy)
            }
            Text(status).font(.footnote).frame(maxWidth: .infinity, alignment: .leading)
            compare.frame(maxHeight: .infinity)
        }
        .padding()
        .onChange(of: pick) { item in
            Task {
                photoData = try? await item?.loadTransferable(type: Data.self)
                after = nil
                before = photoData.flatMap { d in CGImageSourceCreateWithData(d as CFData, nil) }
                    .flatMap { CGImageSourceCreateImageAtIndex($0, 0, nil) }
                status = before.map { "Photo \($0.width)x\($0.height)" } ?? "The photo cannot be decoded"
            }
        }
    }

    private var compare: some View {
        GeometryReader { geo in
            ZStack(alignment: .leading) {
                if let b = before { Image(decorative: b, scale: 1).resizable().interpolation(.none).scaledToFit() }
                if let a = after {
                    Image(decorative: a, scale: 1).resizable().interpolation(.none).scaledToFit()
                        .mask(HStack(spacing: 0) { Color.clear.frame(width: geo.size.width * split); Color.black })
                    Rectangle().fill(.white).frame(width: 2).offset(x: geo.size.width * split)
                }
            }
            .gesture(DragGesture(minimumDistance: 0).onChanged { split = min(1, max(0, $0.location.x / geo.size.width)) })
        }
    }

    @MainActor private func upscale() async {
        guard let data = photoData else { return }
        busy = true
        defer { busy = false }
        let name = modelName, units = units.ml
        let result: (String, CGImage?, CGImage?) = await Task.detached(priority: .userInitiated) {
            do { return try Self.work(data: data, model: name, units: units) } catch let e as HPUNError {
                return (e.message, nil, nil)
            } catch { return ("Unexpected error: \(error)", nil, nil) }
        }.value
        status = result.0
        if let b = result.1 { before = b }
        after = result.2
    }

    /// Off the main thread: check, plan memory, load, tile, stitch.
    static func work(data: Data, model name: String, units: MLComputeUnits) throws -> (String, CGImage?, CGImage?) {
        let info = ImageInfo.sniff([UInt8](data.prefix(65536)))
        if let p = info.problem { throw HPUNError("This photo is \(p)") }
        guard let src = CGImageSourceCreateWithData(data as CFData, nil),
              let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any],
              let w = props[kCGImagePropertyPixelWidth] as? Int, let h = props[kCGImagePropertyPixelHeight] as? Int else {
            throw HPUNError("The photo cannot be decoded")
        }
        let model = try CoreMLTileModel(name: name, units: units)
        let budget = Int(ProcessInfo.processInfo.physicalMemory / 4)
        let plan = MemoryPlan.plan(width: w, height: h, scale: model.scale, tile: model.tile, budget: budget, compare: true)
        if plan.mode == .refuse { throw HPUNError(plan.message ?? "too large") }
        let opts: [CFString: Any] = [kCGImageSourceCreateThumbnailFromImageAlways: true,
                                     kCGImageSourceThumbnailMaxPixelSize: max(plan.width, plan.height),
                                     kCGImageSourceCreateThumbnailWithTransform: false]
        guard let img = plan.sampleSize == 1 ? CGImageSourceCreateImageAtIndex(src, 0, nil)
                : CGImageSourceCreateThumbnailAtIndex(src, 0, opts as CFDictionary) else { throw HPUNError("The photo cannot be decoded") }
        let input = Images.pixels(of: img)
        var lines = ["\(name) · Core ML · x\(model.scale) · tile \(model.tile), overlap \(overlap) · "
                     + "\(input.width)x\(input.height) → \(input.width * model.scale)x\(input.height * model.scale)"]
        lines += [plan.message, model.fp16Note].compactMap { $0 } + info.notes
        let stats: UpscaleStats
        var out: CGImage?
        if plan.mode == .inMemory {
            let sink = ArraySink(width: input.width * model.scale, height: input.height * model.scale)
            stats = try TiledUpscaler.run(input, model: model, overlap: overlap, gray: info.gray, sink: sink)
            out = Images.image(sink.pixels, width: sink.width, height: sink.height)
        } else {
            let raw = FileManager.default.temporaryDirectory.appendingPathComponent("hpun-\(UUID().uuidString).rgba")
            FileManager.default.createFile(atPath: raw.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: raw) }
            let fh = try FileHandle(forWritingTo: raw)
            stats = try TiledUpscaler.run(input, model: model, overlap: overlap, gray: info.gray, sink: RawFileSink(handle: fh))
            try fh.close()
            let png = FileManager.default.temporaryDirectory.appendingPathComponent("hpun-result.png")
            try Images.pngFromRaw(raw, width: input.width * model.scale, height: input.height * model.scale, to: png)
            if let image = UIImage(contentsOfFile: png.path) { UIImageWriteToSavedPhotosAlbum(image, nil, nil, nil) }
            lines.append("saved to Photos")
        }
        let ms = stats.tileSeconds.map { $0 * 1000 }
        lines.append(String(format: "%d tiles · %.1f ms per tile (min %.1f, max %.1f) · total %.2f s", stats.tiles,
                            stats.meanTileMilliseconds, ms.min() ?? 0, ms.max() ?? 0, stats.totalSeconds))
        return (lines.joined(separator: "\n"), Images.bicubic(img, scale: model.scale), out)
    }

    private func save() {
        guard let a = after else { return }
        UIImageWriteToSavedPhotosAlbum(UIImage(cgImage: a), nil, nil, nil)
        status += "\nSaved to Photos."
    }
}
#endif
