package org.hpunedge.demo.core;

import java.util.ArrayList;
import java.util.List;

/**
 * What a photo file is, read from its first bytes before decoding: format, size, bit depth, channels.
 * The app's policy for images that are not plain 8-bit RGB: gray is run replicated to RGB and comes out
 * gray (as hpun_edge does); 16-bit PNG is reduced to 8 bits; palette and alpha are expanded / dropped;
 * CMYK and 12-bit JPEG are refused with a message. Never throws on bad bytes.
 */
public final class ImageInfo {
    public final String format; // "png", "jpeg", "webp", "gif", "bmp", "heif", or null (unknown)
    public int width = -1, height = -1, bitDepth = 8, channels = 3;
    public boolean gray, alpha, palette, cmyk;
    /** Why the image is refused, or null. */
    public String problem;
    /** What the app does differently for this image (shown to the user). */
    public final List<String> notes = new ArrayList<String>();

    private ImageInfo(String format) {
        this.format = format;
    }

    /** Sniff a file's head (the first 64 KiB are plenty: JPEG's SOF can follow large EXIF blocks). */
    public static ImageInfo sniff(byte[] head, int n) {
        n = Math.min(n, head.length);
        ImageInfo info;
        if (n >= 8 && u8(head, 0) == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
            info = png(head, n);
        } else if (n >= 3 && u8(head, 0) == 0xff && u8(head, 1) == 0xd8 && u8(head, 2) == 0xff) {
            info = jpeg(head, n);
        } else if (n >= 12 && ascii(head, 0, 4).equals("RIFF") && ascii(head, 8, 4).equals("WEBP")) {
            info = new ImageInfo("webp");
        } else if (n >= 4 && ascii(head, 0, 4).equals("GIF8")) {
            info = new ImageInfo("gif");
        } else if (n >= 2 && head[0] == 'B' && head[1] == 'M') {
            info = new ImageInfo("bmp");
        } else if (n >= 12 && ascii(head, 4, 4).equals("ftyp")) {
            info = new ImageInfo("heif");
        } else {
            info = new ImageInfo(null);
            StringBuilder b = new StringBuilder();
            for (int k = 0; k < Math.min(n, 8); k++) b.append(k > 0 ? " " : "").append(String.format("%02x", u8(head, k)));
            info.problem = n == 0 ? "an empty file, not a photo"
                    : "not an image this app can read (PNG, JPEG, WebP, GIF, BMP, HEIF); it starts with bytes " + b;
        }
        if (info.problem == null) info.policy();
        return info;
    }

    private void policy() {
        if (gray) notes.add("gray image: run as RGB (replicated), the result is gray (the mean of the three outputs)");
        if (palette) notes.add("palette image: expanded to RGB");
        if (alpha) notes.add("transparency is dropped: the model works on RGB");
        if (bitDepth == 16) notes.add("16-bit image: reduced to 8 bits per channel (the model works on 8-bit RGB)");
        if (cmyk) problem = "a CMYK JPEG: the model works on RGB; convert the photo to RGB first";
        else if ("jpeg".equals(format) && bitDepth != 8) {
            problem = "a " + bitDepth + "-bit JPEG: only 8-bit JPEGs can be decoded; convert it to 8-bit first";
        } else if (bitDepth != 8 && bitDepth != 16 && !(palette || gray)) {
            problem = "a " + bitDepth + "-bit image: only 8 and 16 bits per channel are supported";
        }
    }

    private static ImageInfo png(byte[] h, int n) {
        ImageInfo info = new ImageInfo("png");
        if (n < 26 || !ascii(h, 12, 4).equals("IHDR")) {
            info.problem = "a truncated or damaged PNG (no IHDR header)";
            return info;
        }
        info.width = be32(h, 16);
        info.height = be32(h, 20);
        info.bitDepth = u8(h, 24);
        int type = u8(h, 25);
        switch (type) {
            case 0: info.gray = true; info.channels = 1; break;
            case 2: info.channels = 3; break;
            case 3: info.palette = true; info.channels = 3; info.bitDepth = 8; break;
            case 4: info.gray = true; info.alpha = true; info.channels = 2; break;
            case 6: info.alpha = true; info.channels = 4; break;
            default: info.problem = "a PNG of unknown colour type " + type; break;
        }
        if (info.gray && info.bitDepth < 8) info.bitDepth = 8; // 1/2/4-bit gray decodes to 8 bits
        if (info.width <= 0 || info.height <= 0) info.problem = "a PNG of " + info.width + "x" + info.height + " pixels";
        return info;
    }

    private static ImageInfo jpeg(byte[] h, int n) {
        ImageInfo info = new ImageInfo("jpeg");
        int i = 2;
        while (i + 4 <= n) {
            if (u8(h, i) != 0xff) { i++; continue; }
            int marker = u8(h, i + 1);
            if (marker == 0xff) { i++; continue; }
            if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
            int len = (u8(h, i + 2) << 8) | u8(h, i + 3);
            boolean sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
            if (sof) {
                if (i + 10 > n) break;
                info.bitDepth = u8(h, i + 4);
                info.height = (u8(h, i + 5) << 8) | u8(h, i + 6);
                info.width = (u8(h, i + 7) << 8) | u8(h, i + 8);
                info.channels = u8(h, i + 9);
                info.gray = info.channels == 1;
                info.cmyk = info.channels == 4;
                if (info.channels != 1 && info.channels != 3 && info.channels != 4) {
                    info.problem = "a JPEG with " + info.channels + " colour components";
                }
                return info;
            }
            if (marker == 0xda || marker == 0xd9) break;
            i += 2 + len;
        }
        info.notes.add("JPEG header not fully read: size known after decoding");
        return info;
    }

    private static int u8(byte[] b, int i) {
        return b[i] & 0xff;
    }

    private static int be32(byte[] b, int i) {
        return (u8(b, i) << 24) | (u8(b, i + 1) << 16) | (u8(b, i + 2) << 8) | u8(b, i + 3);
    }

    private static String ascii(byte[] b, int off, int len) {
        char[] c = new char[len];
        for (int k = 0; k < len; k++) c[k] = (char) u8(b, off + k);
        return new String(c);
    }
}
