#!/usr/bin/env bash
# Everything the aarch64 cross build and its qemu smoke test need, idempotent (seconds once done):
#  1. Debian's cross compiler and qemu user-mode emulation (apt-get, needs root; skipped when present):
#     g++-aarch64-linux-gnu, qemu-user;
#  2. the executorch wheel for manylinux_2_28_aarch64, the same version as the venv's, fetched with
#     `pip download` into the cache folder (${XDG_CACHE_HOME:-~/.cache}/hpun-edge/wheels) and unpacked
#     (include/, lib/, share/) into its aarch64-wheel/ (where hpun_edge.app.native looks for it).
# Usage: native/scripts/setup_aarch64.sh [python]   (default: .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup_aarch64: missing ${need[*]}; install them: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  echo "setup_aarch64: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

version=$("$PY" -c "from importlib.metadata import version; print(version('executorch').split('+')[0])")
pyver=$("$PY" -c "import sys; print(f'{sys.version_info[0]}{sys.version_info[1]}')")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/hpun-edge
dest=$cache/aarch64-wheel
stamp="$dest/.executorch-$version"
if [ ! -f "$stamp" ]; then
  mkdir -p "$cache/wheels"
  wheel=$(ls "$cache"/wheels/executorch-"$version"-*manylinux*aarch64.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "setup_aarch64: pip download executorch==$version (manylinux_2_28_aarch64)" >&2
    "$PY" -m pip download --quiet "executorch==$version" --platform manylinux_2_28_aarch64 \
      --python-version "$pyver" --implementation cp --only-binary=:all: --no-deps -d "$cache/wheels"
    wheel=$(ls "$cache"/wheels/executorch-"$version"-*manylinux*aarch64.whl | head -n1)
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  "$PY" - "$wheel" "$dest" <<'PYEOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
keep = ("executorch/include/", "executorch/lib/", "executorch/share/")
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(keep)]
    z.extractall(dest, names)
PYEOF
  touch "$stamp"
fi
echo "setup_aarch64: ready: $(command -v aarch64-linux-gnu-g++), $(command -v qemu-aarch64), $dest/executorch ($version)" >&2
