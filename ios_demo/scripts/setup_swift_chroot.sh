#!/usr/bin/env bash
# A Debian trixie root with Swift 6 (`swiftlang`), for `swift build` / `swift test` of HPUNCore on this
# bookworm machine (trixie's Swift needs a newer libc than bookworm's). Made with debootstrap, entered
# with chroot; needs root. About 2 minutes and 3.3 GB, once: a stamp file marks a finished root.
#   root: $HPUN_SWIFT_ROOT, default ios_demo/.toolchain/trixie (gitignored)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${HPUN_SWIFT_ROOT:-$HERE/.toolchain/trixie}"
MIRROR="${HPUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STAMP="$ROOT/.hpun-swift-ready"
[ -f "$STAMP" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "setup_swift_chroot: needs root (debootstrap, chroot); run it as root or with sudo" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  echo "setup_swift_chroot: installing debootstrap (apt-get)"
  apt-get install -y -qq debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
fi
mkdir -p "$ROOT"
if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ ! -f "$ROOT/.debootstrap-done" ]; then
  rm -rf "$ROOT" && mkdir -p "$ROOT"
  echo "setup_swift_chroot: debootstrap trixie into $ROOT"
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" > "$ROOT.debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT.debootstrap.log" >&2; exit 1; }
  touch "$ROOT/.debootstrap-done"
fi
echo "setup_swift_chroot: apt-get install swiftlang libc6-dev (in the chroot)"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends swiftlang libc6-dev ca-certificates >/dev/null 2>&1'
# swift finds its libraries through $ORIGIN, which glibc resolves with /proc/self/exe: /proc is needed
mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc"' EXIT
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin swift --version
touch "$STAMP"
echo "setup_swift_chroot: ready ($(du -sh "$ROOT" 2>/dev/null | cut -f1) in $ROOT)"
