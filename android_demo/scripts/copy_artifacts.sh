#!/usr/bin/env bash
# Copy `hpun-edge pipeline` (or converters.export) artifacts into the app's assets:
#   scripts/copy_artifacts.sh [OUT_DIR ...]     (default: the repo's out/)
# Every *.pte and *.tflite found below OUT_DIR that has its sidecar <artifact>.json beside it goes to
# app/src/main/assets/models/ with that sidecar; one without a sidecar is skipped (the app would refuse
# it). Two artifacts of the same name from different folders are named <folder>-<name>.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/app/src/main/assets/models"
[ $# -gt 0 ] || set -- "$HERE/../out"
mkdir -p "$DEST"
copied=0; skipped=0
declare -A seen=()
while IFS= read -r -d '' f; do
  name="$(basename "$f")"
  if [ ! -f "$f.json" ]; then
    echo "copy_artifacts: skipped $f (no sidecar $name.json beside it)" >&2
    skipped=$((skipped + 1)); continue
  fi
  if [ -n "${seen[$name]:-}" ]; then name="$(basename "$(dirname "$f")")-$name"; fi
  seen[$name]=1
  cp "$f" "$DEST/$name.tmp" && mv "$DEST/$name.tmp" "$DEST/$name"
  cp "$f.json" "$DEST/$name.json"
  echo "copy_artifacts: $f -> assets/models/$name"
  copied=$((copied + 1))
done < <(find "$@" \( -name '*.pte' -o -name '*.tflite' \) -type f -print0 | sort -z)
echo "copy_artifacts: $copied artifact(s) copied to $DEST, $skipped skipped; rebuild the app (Gradle or scripts/build_apk.sh)"
