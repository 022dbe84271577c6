package org.hpunedge.demo;

import android.content.ContentResolver;
import android.content.ContentValues;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Build;
import android.provider.MediaStore;

import java.io.IOException;
import java.io.OutputStream;

/** Saving results to the gallery (MediaStore; Pictures/HPUN on Android 10+). */
final class Gallery {
    private Gallery() {}

    /** A new gallery entry to write a PNG into; call {@link #publish} when written. */
    static Uri create(ContentResolver cr, String name) throws IOException {
        ContentValues v = new ContentValues();
        v.put(MediaStore.Images.Media.DISPLAY_NAME, name);
        v.put(MediaStore.Images.Media.MIME_TYPE, "image/png");
        if (Build.VERSION.SDK_INT >= 29) {
            v.put("relative_path", "Pictures/HPUN"); // MediaStore.MediaColumns.RELATIVE_PATH (API 29)
            v.put("is_pending", 1);
        }
        Uri uri = cr.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, v);
        if (uri == null) throw new IOException("the gallery refused a new image");
        return uri;
    }

    static void publish(ContentResolver cr, Uri uri) {
        if (Build.VERSION.SDK_INT >= 29) {
            ContentValues v = new ContentValues();
            v.put("is_pending", 0);
            cr.update(uri, v, null, null);
        }
    }

    static Uri save(ContentResolver cr, Bitmap bitmap, String name) throws IOException {
        Uri uri = create(cr, name);
        OutputStream out = cr.openOutputStream(uri);
        if (out == null) throw new IOException("cannot write to the gallery");
        try {
            if (!bitmap.compress(Bitmap.CompressFormat.PNG, 100, out)) throw new IOException("PNG encoding failed");
        } catch (IOException e) {
            cr.delete(uri, null, null);
            throw e;
        } finally {
            out.close();
        }
        publish(cr, uri);
        return uri;
    }
}
