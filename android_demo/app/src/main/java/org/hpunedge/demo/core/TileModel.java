package org.hpunedge.demo.core;

/** A model of one fixed tile: float32 CHW (3 x tile x tile) in [0, 1] -> (3 x tile*scale x tile*scale). */
public interface TileModel {
    int tile();

    int scale();

    /** Run one tile; the returned array has 3 * (tile * scale)^2 floats. */
    float[] run(float[] chw) throws Exception;
}
