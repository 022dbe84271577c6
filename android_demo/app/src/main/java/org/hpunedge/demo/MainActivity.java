package org.hpunedge.demo;

import android.Manifest;
import android.app.Activity;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.LinearLayout;
import android.widget.Spinner;
import android.widget.TextView;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.hpunedge.demo.core.ArgbSink;
import org.hpunedge.demo.core.Bicubic;
import org.hpunedge.demo.core.ImageInfo;
import org.hpunedge.demo.core.MemoryPlan;
import org.hpunedge.demo.core.PngSink;
import org.hpunedge.demo.core.TiledUpscaler;
import org.hpunedge.demo.core.UpscaleException;

/**
 * Pick a photo (or the bundled sample), a runtime and a model; upscale tile by tile exactly as
 * hpun_edge does (crop-and-stitch); compare with bicubic; see the time per tile and in total; save.
 */
public class MainActivity extends Activity {
    static final int PICK_PHOTO = 1, OVERLAP = 16; // hpun_edge.inference.DEFAULT_OVERLAP
    static final String[] TARGETS = {"executorch", "litert"};

    private Spinner runtime, model;
    private TextView status;
    private Button run, save;
    private BeforeAfterView view;
    private Uri photo; // null: the bundled sample
    private Bitmap result;
    private LoadedModel loaded;
    private String loadedName;
    private volatile boolean busy;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        LinearLayout root = new LinearLayout(this);
        root.setOrientation(LinearLayout.VERTICAL);
        LinearLayout row1 = new LinearLayout(this), row2 = new LinearLayout(this);
        runtime = new Spinner(this);
        runtime.setAdapter(adapter(new String[] {"ExecuTorch (.pte, XNNPACK)", "LiteRT (.tflite)"}));
        model = new Spinner(this);
        row1.addView(runtime);
        row1.addView(model);
        Button pick = button("Photo…"), sample = button("Sample");
        run = button("Upscale");
        save = button("Save");
        save.setEnabled(false);
        row2.addView(pick);
        row2.addView(sample);
        row2.addView(run);
        row2.addView(save);
        status = new TextView(this);
        status.setPadding(16, 8, 16, 8);
        view = new BeforeAfterView(this);
        root.addView(row1);
        root.addView(row2);
        root.addView(status);
        root.addView(view, new LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f));
        setContentView(root);

        runtime.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            public void onItemSelected(AdapterView<?> p, View v, int pos, long id) { listModels(); }
            public void onNothingSelected(AdapterView<?> p) {}
        });
        pick.setOnClickListener(new View.OnClickListener() {
            public void onClick(View v) {
                Intent i = new Intent(Intent.ACTION_GET_CONTENT).setType("image/*").addCategory(Intent.CATEGORY_OPENABLE);
                startActivityForResult(Intent.createChooser(i, "Photo to upscale"), PICK_PHOTO);
            }
        });
        sample.setOnClickListener(new View.OnClickListener() {
            public void onClick(View v) { choose(null); }
        });
        run.setOnClickListener(new View.OnClickListener() {
            public void onClick(View v) { upscale(); }
        });
        save.setOnClickListener(new View.OnClickListener() {
            public void onClick(View v) { save(); }
        });
        choose(null);
    }

    private ArrayAdapter<String> adapter(String[] items) {
        ArrayAdapter<String> a = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, items);
        a.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        return a;
    }

    private Button button(String text) {
        Button b = new Button(this);
        b.setText(text);
        return b;
    }

    private void listModels() {
        List<String> names = Models.list(this, TARGETS[runtime.getSelectedItemPosition()]);
        model.setAdapter(adapter(names.toArray(new String[0])));
        if (names.isEmpty()) say("No " + (runtime.getSelectedItemPosition() == 0 ? ".pte" : ".tflite")
                + " model in the app: run android_demo/scripts/copy_artifacts.sh and rebuild.");
    }

    @Override
    protected void onActivityResult(int request, int code, Intent data) {
        if (request == PICK_PHOTO && code == RESULT_OK && data != null && data.getData() != null) choose(data.getData());
    }

    private InputStream openPhoto() throws IOException {
        InputStream in = photo == null ? getAssets().open("sample.png") : getContentResolver().openInputStream(photo);
        if (in == null) throw new IOException("cannot open the photo");
        return in;
    }

    private void choose(Uri uri) {
        photo = uri;
        result = null;
        save.setEnabled(false);
        try {
            Bitmap preview = decode(photo, 4 << 20);
            view.show(null, preview);
            say((uri == null ? "Bundled sample" : "Photo") + " " + preview.getWidth() + "x" + preview.getHeight() + " (preview)");
        } catch (Exception | OutOfMemoryError e) {
            say("Cannot show the photo: " + e.getMessage());
        }
    }

    /** A preview decode of at most maxPixels pixels. */
    private Bitmap decode(Uri uri, int maxPixels) throws IOException {
        BitmapFactory.Options o = new BitmapFactory.Options();
        o.inJustDecodeBounds = true;
        InputStream in = openPhoto();
        try { BitmapFactory.decodeStream(in, null, o); } finally { in.close(); }
        o.inJustDecodeBounds = false;
        o.inSampleSize = 1;
        while ((long) o.outWidth * o.outHeight / ((long) o.inSampleSize * o.inSampleSize) > maxPixels) o.inSampleSize *= 2;
        in = openPhoto();
        try {
            Bitmap b = BitmapFactory.decodeStream(in, null, o);
            if (b == null) throw new IOException("the photo cannot be decoded");
            return b;
        } finally {
            in.close();
        }
    }

    private void upscale() {
        if (busy) return;
        final String name = (String) model.getSelectedItem();
        if (name == null) {
            say("Choose a model first (none bundled for this runtime).");
            return;
        }
        if (Build.VERSION.SDK_INT < 29 && checkSelfPermission(Manifest.permission.WRITE_EXTERNAL_STORAGE) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.WRITE_EXTERNAL_STORAGE}, 3); // for a result too large to show
        }
        busy = true;
        run.setEnabled(false);
        save.setEnabled(false);
        say("Loading " + name + "…");
        new Thread(new Runnable() {
            public void run() {
                String msg;
                try {
                    msg = work(name);
                } catch (UpscaleException e) {
                    msg = e.getMessage();
                } catch (OutOfMemoryError e) {
                    msg = "Out of memory: try a smaller photo or model tile (" + e.getMessage() + ")";
                } catch (Throwable e) {
                    msg = "Unexpected error: " + e;
                }
                final String m = msg;
                runOnUiThread(new Runnable() {
                    public void run() {
                        busy = false;
                        run.setEnabled(true);
                        save.setEnabled(result != null);
                        say(m);
                    }
                });
            }
        }, "upscale").start();
    }

    /** Runs on the worker thread; returns the status text. */
    private String work(String name) throws Exception {
        if (loaded == null || !name.equals(loadedName)) {
            if (loaded != null) loaded.close();
            loaded = null;
            loaded = Models.open(this, name, Math.max(1, Runtime.getRuntime().availableProcessors() / 2));
            loadedName = name;
        }
        byte[] head = new byte[65536];
        int n;
        InputStream in = openPhoto();
        try { n = Math.max(0, in.read(head)); } finally { in.close(); }
        ImageInfo info = ImageInfo.sniff(head, n);
        if (info.problem != null) throw new UpscaleException("This photo is " + info.problem);
        BitmapFactory.Options o = new BitmapFactory.Options();
        o.inJustDecodeBounds = true;
        in = openPhoto();
        try { BitmapFactory.decodeStream(in, null, o); } finally { in.close(); }
        if (o.outWidth <= 0) throw new UpscaleException("The photo cannot be decoded (" + (info.format == null ? "unknown" : info.format) + ")");
        Runtime rt = Runtime.getRuntime();
        long budget = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory()) - (24L << 20);
        int s = loaded.scale();
        MemoryPlan plan = MemoryPlan.plan(o.outWidth, o.outHeight, s, loaded.tile(), budget, true);
        if (plan.mode == MemoryPlan.Mode.REFUSE) throw new UpscaleException(plan.message);
        if (plan.mode == MemoryPlan.Mode.STREAM_TO_FILE && Build.VERSION.SDK_INT < 29
                && checkSelfPermission(Manifest.permission.WRITE_EXTERNAL_STORAGE) != PackageManager.PERMISSION_GRANTED) {
            throw new UpscaleException(plan.message + ". Writing it to the gallery needs the storage permission: "
                    + "allow it when asked, then Upscale again.");
        }
        o.inJustDecodeBounds = false;
        o.inSampleSize = plan.sampleSize;
        o.inPreferredConfig = Bitmap.Config.ARGB_8888; // 16-bit, gray, palette: decoded to 8-bit ARGB
        in = openPhoto();
        Bitmap src;
        try { src = BitmapFactory.decodeStream(in, null, o); } finally { in.close(); }
        if (src == null) throw new UpscaleException("The photo cannot be decoded");
        if (src.getConfig() != Bitmap.Config.ARGB_8888) src = src.copy(Bitmap.Config.ARGB_8888, false);
        int w = src.getWidth(), h = src.getHeight();
        final TiledUpscaler.Listener progress = new TiledUpscaler.Listener() {
            public boolean onTile(final int i, final int count, long nanos) {
                final String t = String.format(Locale.US, "Tile %d of %d (%.0f ms)", i, count, nanos / 1e6);
                runOnUiThread(new Runnable() { public void run() { say(t); } });
                return true;
            }
        };
        List<String> lines = new ArrayList<String>();
        lines.add(String.format(Locale.US, "%s · %s · x%d · tile %d, overlap %d · %dx%d → %dx%d",
                loadedName, loaded.runtimeName(), s, loaded.tile(), OVERLAP, w, h, w * s, h * s));
        if (plan.message != null) lines.add(plan.message);
        lines.addAll(info.notes);
        TiledUpscaler.Stats st;
        if (plan.mode == MemoryPlan.Mode.IN_MEMORY) {
            ArgbSink.Array sink = new ArgbSink.Array(w * s, h * s);
            st = TiledUpscaler.run(new BitmapSource(src), loaded, OVERLAP, info.gray, sink, progress);
            final Bitmap out = Bitmap.createBitmap(sink.argb, w * s, h * s, Bitmap.Config.ARGB_8888);
            int[] px = new int[w * h];
            src.getPixels(px, 0, w, 0, 0, w, h);
            final Bitmap bic = Bitmap.createBitmap(Bicubic.upscale(px, w, h, s), w * s, h * s, Bitmap.Config.ARGB_8888);
            result = out;
            runOnUiThread(new Runnable() { public void run() { view.show(bic, out); } });
        } else {
            Uri uri = Gallery.create(getContentResolver(), "hpun_" + System.currentTimeMillis() + ".png");
            OutputStream os = getContentResolver().openOutputStream(uri);
            if (os == null) throw new UpscaleException("cannot write to the gallery");
            try {
                PngSink png = new PngSink(new java.io.BufferedOutputStream(os, 1 << 16), w * s, h * s, info.gray);
                st = TiledUpscaler.run(new BitmapSource(src), loaded, OVERLAP, info.gray, png, progress);
                png.finish();
            } catch (UpscaleException e) {
                getContentResolver().delete(uri, null, null);
                throw e;
            } finally {
                os.close();
            }
            Gallery.publish(getContentResolver(), uri);
            lines.add("saved to the gallery (Pictures/HPUN)");
        }
        long min = Long.MAX_VALUE, max = 0;
        for (long t : st.tileNanos) { min = Math.min(min, t); max = Math.max(max, t); }
        lines.add(String.format(Locale.US, "%d tiles · %.1f ms per tile (min %.1f, max %.1f) · total %.2f s",
                st.tiles, st.meanTileMillis(), min / 1e6, max / 1e6, st.totalNanos / 1e9));
        StringBuilder b = new StringBuilder();
        for (String l : lines) b.append(b.length() > 0 ? "\n" : "").append(l);
        return b.toString();
    }

    private void save() {
        if (result == null) return;
        if (Build.VERSION.SDK_INT < 29 && checkSelfPermission(Manifest.permission.WRITE_EXTERNAL_STORAGE) != PackageManager.PERMISSION_GRANTED) {
            requestPermissions(new String[] {Manifest.permission.WRITE_EXTERNAL_STORAGE}, 2);
            return;
        }
        try {
            Gallery.save(getContentResolver(), result, "hpun_" + System.currentTimeMillis() + ".png");
            say(status.getText() + "\nSaved to the gallery.");
        } catch (IOException | RuntimeException e) {
            say("Cannot save: " + e.getMessage());
        }
    }

    @Override
    public void onRequestPermissionsResult(int request, String[] permissions, int[] results) {
        if (request == 2 && results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) save();
        else if (request == 2) say("Saving needs the storage permission on this Android version.");
    }

    private void say(String text) {
        status.setText(text);
    }

    @Override
    protected void onDestroy() {
        if (loaded != null && !busy) loaded.close();
        super.onDestroy();
    }
}
