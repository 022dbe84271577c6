#!/usr/bin/env bash
# `swift test` of ios_demo/HPUNCore against demo_golden/: natively where `swift` is on PATH (macOS,
# a Swift toolchain on Linux), else in the trixie chroot made by setup_swift_chroot.sh (needs root:
# chroot and a /proc mount for the duration of the run). Exit status: swift test's.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
ROOT="${HPUN_SWIFT_ROOT:-$HERE/.toolchain/trixie}"
if [ -z "${HPUN_SWIFT_CHROOT:-}" ] && command -v swift >/dev/null; then
  cd "$HERE/HPUNCore"
  HPUN_GOLDEN="$REPO/demo_golden" exec swift test "$@"
fi
if [ ! -f "$ROOT/.hpun-swift-ready" ]; then
  echo "run_swift_tests: no swift on PATH and no chroot at $ROOT (run ios_demo/scripts/setup_swift_chroot.sh)" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "run_swift_tests: the chroot needs root" >&2; exit 2; }
# a fresh copy of the sources (the build cache stays in /work/build inside the root)
mkdir -p "$ROOT/work"
rm -rf "$ROOT/work/ios_demo" "$ROOT/work/demo_golden"
mkdir -p "$ROOT/work/ios_demo"
cp -r "$HERE/HPUNCore" "$ROOT/work/ios_demo/HPUNCore"
rm -rf "$ROOT/work/ios_demo/HPUNCore/.build"
cp -r "$REPO/demo_golden" "$ROOT/work/demo_golden"
mountpoint -q "$ROOT/proc" || { mount -t proc proc "$ROOT/proc"; trap 'umount "$ROOT/proc"' EXIT; }
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root HPUN_GOLDEN=/work/demo_golden \
  sh -c 'cd /work/ios_demo/HPUNCore && swift test --scratch-path /work/build "$@"' swift-test "$@"
