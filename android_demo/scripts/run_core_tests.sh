#!/usr/bin/env bash
# Compile the pure-Java core (no Android imports) and its tests with plain javac, run them on the host
# JVM against the golden vectors in demo_golden/. No Gradle, no JUnit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BUILD="$HERE/build/core-tests"
rm -rf "$BUILD" && mkdir -p "$BUILD"
if ! javac -nowarn -encoding UTF-8 --release 8 -d "$BUILD" \
  $(find "$HERE/app/src/main/java/org/hpunedge/demo/core" "$HERE/app/src/coreTest/java" -name '*.java' | sort) \
  > "$BUILD/javac.log" 2>&1; then
  cat "$BUILD/javac.log" >&2
  echo "run_core_tests: compilation failed" >&2
  exit 1
fi
exec java -Djava.awt.headless=true -cp "$BUILD" org.hpunedge.demo.core.CoreTests "${1:-$REPO/demo_golden}"
