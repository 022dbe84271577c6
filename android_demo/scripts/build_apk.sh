#!/usr/bin/env bash
# Build a signed debug APK of the demo without Gradle, from Debian's packages (fetched on first use
# into android_demo/.toolchain by fetch_toolchain.sh): aapt2 (resources, manifest, R.java), javac
# against android.jar API 23 and ExecuTorch's classes.jar (compile-only), dx (dex), zipalign, apksigner
# with a keytool-made debug keystore; then `aapt dump badging` and `apksigner verify`.
# Output: android_demo/build/apk/hpun-demo-debug.apk. See android_demo/README.md for what it lacks.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
"$HERE/scripts/fetch_toolchain.sh"
TC="${HPUN_ANDROID_TOOLCHAIN:-$HERE/.toolchain}"
R="$TC/root"
BT="$R/usr/lib/android-sdk/build-tools/debian"
ANDROID_JAR="$R/usr/lib/android-sdk/platforms/android-23/android.jar"
EXECUTORCH_JAR="$TC/npm/classes.jar"
export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu/android:$R/usr/lib/x86_64-linux-gnu:$R/usr/lib:$R/usr/lib/p7zip${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
AAPT2="$BT/aapt2"; AAPT="$BT/aapt"; ZIPALIGN="$BT/zipalign"
DX=(java -jar "$BT/lib/dx.jar" --dex)
APKSIGNER=(java -cp "$R/usr/share/java/apksigner.jar:$R/usr/share/java/apksig.jar" com.android.apksigner.ApkSignerTool)
APP="$HERE/app/src/main"
OUT="$HERE/build/apk"
start=$(date +%s.%N)

rm -rf "$OUT" && mkdir -p "$OUT/res" "$OUT/gen" "$OUT/classes"
# 1. resources and manifest -> resources.apk (+ R.java)
"$AAPT2" compile --dir "$APP/res" -o "$OUT/res/res.zip"
# the manifest is Gradle style (no package attribute: the namespace is in build.gradle); aapt2 needs it
sed 's|<manifest |<manifest package="org.hpunedge.demo" |' "$APP/AndroidManifest.xml" > "$OUT/AndroidManifest.xml"
"$AAPT2" link -o "$OUT/unsigned.apk" -I "$ANDROID_JAR" --manifest "$OUT/AndroidManifest.xml" \
  --java "$OUT/gen" -A "$APP/assets" -0 pte -0 tflite --min-sdk-version 23 --target-sdk-version 23 \
  --version-code 1 --version-name 0.1 "$OUT/res/res.zip"
# 2. Java 8 bytecode against android.jar (API 23) and the ExecuTorch API (compile-only, not packaged).
#    src/litert is left out: no LiteRT jar can be fetched here; the Gradle build compiles it.
find "$APP/java" "$OUT/gen" -name '*.java' | sort > "$OUT/sources.txt"
javac -nowarn -encoding UTF-8 -source 8 -target 8 -Xlint:-options -bootclasspath "$ANDROID_JAR" \
  -cp "$EXECUTORCH_JAR" -d "$OUT/classes" @"$OUT/sources.txt"
# 3. dex (dx takes Java 8 class files; the app has no lambdas)
"${DX[@]}" --min-sdk-version=23 --output="$OUT/classes.dex" "$OUT/classes"
(cd "$OUT" && python3 - <<'PY'
import zipfile
with zipfile.ZipFile("unsigned.apk", "a", zipfile.ZIP_DEFLATED) as z:
    z.write("classes.dex", "classes.dex")
PY
)
# 4. align, sign with a debug key, verify
"$ZIPALIGN" -f -p 4 "$OUT/unsigned.apk" "$OUT/aligned.apk"
KS="$TC/debug.keystore"
if [ ! -f "$KS" ]; then
  keytool -genkeypair -keystore "$KS" -storepass android -keypass android -alias androiddebugkey \
    -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=Android Debug,O=Android,C=US" >/dev/null 2>&1
fi
"${APKSIGNER[@]}" sign --ks "$KS" --ks-pass pass:android --key-pass pass:android \
  --out "$OUT/hpun-demo-debug.apk" "$OUT/aligned.apk"
rm -f "$OUT/unsigned.apk" "$OUT/aligned.apk" "$OUT/hpun-demo-debug.apk.idsig"
end=$(date +%s.%N)

echo "== aapt dump badging"
"$AAPT" dump badging "$OUT/hpun-demo-debug.apk" | head -4
echo "== apksigner verify"
"${APKSIGNER[@]}" verify --verbose "$OUT/hpun-demo-debug.apk" | head -4
echo "== contents"
unzip -l "$OUT/hpun-demo-debug.apk" | tail -n +4 | head -n -2 | awk '{print $4}' | sort | tr '\n' ' '; echo
printf 'build_apk: %s (%d bytes) in %.1f s (toolchain cached)\n' "$OUT/hpun-demo-debug.apk" \
  "$(stat -c %s "$OUT/hpun-demo-debug.apk")" "$(awk "BEGIN {print $end - $start}")"
