#!/usr/bin/env bash
# Debian's chromium, for the report's browser test (tests/test_report_browser.py: report.html headless,
# every image loaded, no console error, the screenshot). `make test` runs this under CI=true only.
# Idempotent: nothing to do when chromium is on PATH. Needs root (apt-get) otherwise.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup_chromium: chromium is not installed and installing it needs root (apt-get install chromium)" >&2
  exit 2
fi
echo "setup_chromium: apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
chromium --version
