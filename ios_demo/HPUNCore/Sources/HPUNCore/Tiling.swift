/// Crop-and-stitch tiling, exactly as `hpun_edge.inference.tile_spans` / `tiled_forward(fixed_size=True)`:
/// the image is edge-padded (replicate) to even sides and up to the tile; every tile reads `overlap`
/// pixels of context on each inner side and only its core is kept. Tiles start at even coordinates.
public struct Span: Equatable, CustomStringConvertible {
    public let start: Int, stop: Int, keepStart: Int, keepStop: Int
    public init(_ start: Int, _ stop: Int, _ keepStart: Int, _ keepStop: Int) {
        self.start = start; self.stop = stop; self.keepStart = keepStart; self.keepStop = keepStop
    }
    public var description: String { "[\(start), \(stop), \(keepStart), \(keepStop)]" }
}

/// A failure with a message meant for the user.
public struct HPUNError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Cover [0, length) with tiles of `tile` pixels whose kept cores abut; `length` must be even.
public func tileSpans(_ length: Int, tile: Int, overlap: Int) throws -> [Span] {
    if tile % 2 != 0 || tile <= 0 {
        throw HPUNError("tile size must be a positive even number (pixel_unshuffle), got \(tile)")
    }
    if overlap < 0 || tile <= 2 * overlap {
        throw HPUNError("tile size \(tile) must exceed twice the overlap \(overlap)")
    }
    if length % 2 != 0 { throw HPUNError("length \(length) must be even (pad the image first)") }
    if length <= tile { return [Span(0, length, 0, length)] }
    var spans: [Span] = []
    var start = 0, keepStart = 0
    while true {
        let last = start + tile >= length
        if last { start = length - tile }
        let stop = start + tile
        let keepStop = last ? length : stop - overlap
        spans.append(Span(start, stop, keepStart, keepStop))
        if last { return spans }
        keepStart = keepStop
        start += tile - 2 * overlap
    }
}

/// The tiles of a whole image: sides padded to even, then up to the tile (fixed-size graphs).
public struct TilePlan {
    public let width: Int, height: Int, paddedWidth: Int, paddedHeight: Int, tile: Int, overlap: Int
    public let rows: [Span], cols: [Span]
    public var tileCount: Int { rows.count * cols.count }

    public init(width: Int, height: Int, tile: Int, overlap: Int) throws {
        guard width > 0, height > 0 else { throw HPUNError("image of \(width)x\(height) pixels") }
        self.width = width; self.height = height; self.tile = tile; self.overlap = overlap
        paddedWidth = max(width + width % 2, tile)
        paddedHeight = max(height + height % 2, tile)
        rows = try tileSpans(paddedHeight, tile: tile, overlap: overlap)
        cols = try tileSpans(paddedWidth, tile: tile, overlap: overlap)
    }
}
