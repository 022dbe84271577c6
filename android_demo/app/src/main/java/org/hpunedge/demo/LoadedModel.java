package org.hpunedge.demo;

import org.hpunedge.demo.core.TileModel;

/** A model loaded in its runtime: a {@link TileModel} that also reports shapes and frees itself. */
public interface LoadedModel extends TileModel {
    /** The NCHW input shape the runtime reports, or null where it cannot tell without running. */
    int[] runtimeInputShape();

    /** The NCHW output shape the runtime reports, or null. */
    int[] runtimeOutputShape();

    String runtimeName();

    void close();
}
