package org.hpunedge.demo;

import android.graphics.Bitmap;

import org.hpunedge.demo.core.ArgbSource;

/** A decoded photo as the core's pixel source (ARGB_8888 rows straight from the Bitmap). */
final class BitmapSource implements ArgbSource {
    private final Bitmap bitmap;

    BitmapSource(Bitmap bitmap) {
        this.bitmap = bitmap;
    }

    public int width() { return bitmap.getWidth(); }

    public int height() { return bitmap.getHeight(); }

    public void readRow(int y, int x0, int n, int[] dst) {
        bitmap.getPixels(dst, 0, n, x0, y, n, 1);
    }
}
