#!/usr/bin/env bash
# Copy hpun-edge's Core ML artifacts (*.mlpackage folders with their *.mlpackage.json sidecars) into
# ios_demo/Models, which project.yml adds to the app as resources (Xcode compiles them to .mlmodelc).
#   scripts/copy_artifacts.sh [OUT_DIR ...]     (default: the repo's out/)
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/Models"
[ $# -gt 0 ] || set -- "$HERE/../out"
mkdir -p "$DEST"
n=0
while IFS= read -r -d '' p; do
  name="$(basename "$p")"
  if [ ! -f "$p.json" ]; then echo "copy_artifacts: skipped $p (no sidecar $name.json)" >&2; continue; fi
  rm -rf "$DEST/$name" && cp -r "$p" "$DEST/$name" && cp "$p.json" "$DEST/$name.json"
  echo "copy_artifacts: $p -> Models/$name"; n=$((n + 1))
done < <(find "$@" -name '*.mlpackage' -type d -prune -print0 | sort -z)
echo "copy_artifacts: $n Core ML artifact(s) in $DEST"
