package org.hpunedge.demo;

import android.content.Context;
import android.graphics.Bitmap;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.graphics.Rect;
import android.graphics.RectF;
import android.view.MotionEvent;
import android.view.View;

/**
 * Bicubic (left of the divider) against the model's output (right); drag to move the divider. Both
 * bitmaps have the output's size; they are drawn fitted to the view, with nearest-neighbour sampling
 * so that what differs is the images, not the display filter.
 */
final class BeforeAfterView extends View {
    private Bitmap before, after;
    private float split = 0.5f;
    private final Paint pixels = new Paint();
    private final Paint line = new Paint();
    private final Paint label = new Paint(Paint.ANTI_ALIAS_FLAG);

    BeforeAfterView(Context ctx) {
        super(ctx);
        pixels.setFilterBitmap(false);
        line.setColor(Color.WHITE);
        line.setStrokeWidth(3 * getResources().getDisplayMetrics().density);
        label.setColor(Color.WHITE);
        label.setTextSize(14 * getResources().getDisplayMetrics().scaledDensity);
        label.setShadowLayer(3, 0, 0, Color.BLACK);
    }

    void show(Bitmap before, Bitmap after) {
        this.before = before;
        this.after = after;
        invalidate();
    }

    @Override
    protected void onDraw(Canvas c) {
        Bitmap any = after != null ? after : before;
        if (any == null) return;
        float k = Math.min((float) getWidth() / any.getWidth(), (float) getHeight() / any.getHeight());
        float w = any.getWidth() * k, h = any.getHeight() * k;
        float x0 = (getWidth() - w) / 2, y0 = (getHeight() - h) / 2;
        RectF dst = new RectF(x0, y0, x0 + w, y0 + h);
        float sx = x0 + w * (after == null || before == null ? 1f : split);
        if (before != null) {
            c.save();
            c.clipRect(x0, y0, sx, y0 + h);
            c.drawBitmap(before, null, dst, pixels);
            c.restore();
        }
        if (after != null) {
            c.save();
            c.clipRect(sx, y0, x0 + w, y0 + h);
            c.drawBitmap(after, new Rect(0, 0, after.getWidth(), after.getHeight()), dst, pixels);
            c.restore();
        }
        if (before != null && after != null) {
            c.drawLine(sx, y0, sx, y0 + h, line);
            c.drawText("bicubic", x0 + 8, y0 + label.getTextSize() + 8, label);
            c.drawText("HPUN", x0 + w - label.measureText("HPUN") - 8, y0 + label.getTextSize() + 8, label);
        }
    }

    @Override
    public boolean onTouchEvent(MotionEvent e) {
        Bitmap any = after != null ? after : before;
        if (any == null) return false;
        float k = Math.min((float) getWidth() / any.getWidth(), (float) getHeight() / any.getHeight());
        float w = any.getWidth() * k, x0 = (getWidth() - w) / 2;
        split = Math.min(1f, Math.max(0f, (e.getX() - x0) / w));
        invalidate();
        return true;
    }
}
