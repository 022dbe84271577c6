"""report.html in a real browser (Debian's chromium, headless): every image loads, the plots render, and
the page logs no console error; then a screenshot. Outside CI a machine without chromium skips with the
reason; under CI=true (where `make test` installs it: scripts/setup_chromium.sh) a missing browser fails.

``HPUN_EDGE_REPORT=out/report.html`` also checks a real pipeline's report, and
``HPUN_EDGE_SCREENSHOT=docs/report.png`` keeps the screenshot (of that report when given, else of the
synthetic one): the README's picture is made this way.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from report_helpers import report_with_pictures  # noqa: F401

pytestmark = pytest.mark.slow

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
WINDOW = (1280, 2000)
# Injected first into a copy of the page (beside it, so relative paths resolve alike): records uncaught
# errors, console.error calls and resources that fail to load; on load, marks the images that did not.
PROBE = """<script>
window.__errors = [];
const __consoleError = console.error;
console.error = function (...a) {
  window.__errors.push('console.error: ' + a.join(' '));
  __consoleError.apply(console, a);
};
window.addEventListener('error', e => window.__errors.push(e.target && e.target !== window
  ? 'failed to load ' + (e.target.src || e.target.href) : 'uncaught: ' + e.message), true);
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const root = document.documentElement;
  root.setAttribute('data-images', imgs.length);
  root.setAttribute('data-broken', JSON.stringify(imgs.filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('src'))));
  root.setAttribute('data-svgs', [...document.querySelectorAll('svg')].filter(s => s.getBBox().width > 0).length);
  root.setAttribute('data-errors', JSON.stringify(window.__errors));
});
</script>"""


def find_chromium() -> str | None:
    for name in (os.environ.get("HPUN_EDGE_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        message = "needs Debian's chromium on PATH (apt-get install chromium; scripts/setup_chromium.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return path


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args]
    nice = ["nice", "-n", "10"] if shutil.which("nice") else []
    return subprocess.run(nice + cmd, capture_output=True, text=True, timeout=180)


def probe(chromium: str, page: Path, profile: Path) -> dict:
    """What the browser saw of `page`: image count, broken images, rendered SVGs, errors, console lines."""
    copy = page.with_name(f".probe-{page.name}")
    copy.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    try:
        r = run_chromium(chromium, profile, "--dump-dom", copy.resolve().as_uri())
    finally:
        copy.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    attrs = dict(re.findall(r'\sdata-(\w+)="([^"]*)"', r.stdout.split(">", 2)[1]))
    assert "errors" in attrs, f"the page's load event did not run: {r.stdout[:300]}"
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    return {"images": int(attrs["images"]), "broken": json.loads(html.unescape(attrs["broken"])),
            "svgs": int(attrs["svgs"]), "errors": json.loads(html.unescape(attrs["errors"])), "console": console}


def screenshot(chromium: str, page: Path, profile: Path, dest: Path) -> None:
    r = run_chromium(chromium, profile, f"--screenshot={dest}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                     page.resolve().as_uri())
    assert r.returncode == 0 and dest.is_file(), r.stderr[-2000:]


def check_page(chromium: str, page: Path, profile: Path) -> dict:
    seen = probe(chromium, page, profile)
    wanted = len(re.findall(r"<img\s", page.read_text()))
    assert seen["images"] == wanted > 0
    assert seen["broken"] == []
    assert seen["svgs"] == page.read_text().count("<svg") > 0  # every plot rendered, with a size
    assert seen["errors"] == [] and seen["console"] == []
    return seen


def keep_screenshot(chromium: str, page: Path, profile: Path, tmp: Path) -> None:
    shot = tmp / "report.png"
    screenshot(chromium, page, profile, shot)
    with Image.open(shot) as im:
        assert im.size == WINDOW
        colours = im.convert("RGB").resize((64, 100)).getcolors(64 * 100)
        assert colours is None or len(colours) > 8  # not a blank page
    dest = os.environ.get("HPUN_EDGE_SCREENSHOT")
    if dest:
        with Image.open(shot) as im:  # a palette PNG: the README's picture stays small
            im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dest, optimize=True)


def test_report_in_chromium(chromium, report_with_pictures, tmp_path):  # noqa: F811
    out, summary = report_with_pictures
    seen = check_page(chromium, out / "report.html", tmp_path / "profile")
    pictures = sum(1 for c in summary["pictures"]["crops"] for p in c["panels"] for f in (p["image"], p["heat"]) if f)
    assert seen["images"] == pictures and seen["svgs"] == 2
    if not os.environ.get("HPUN_EDGE_REPORT"):
        keep_screenshot(chromium, out / "report.html", tmp_path / "profile", tmp_path)


def test_probe_sees_a_broken_image_and_a_console_error(chromium, report_with_pictures, tmp_path):  # noqa: F811
    """The checks can fail: a missing picture and a script error are both reported."""
    out, summary = report_with_pictures
    first = summary["pictures"]["crops"][0]["panels"][0]["image"]
    (out / first).unlink()
    page = out / "broken.html"
    bad = "<script>console.error('boom');</script></body>"
    page.write_text((out / "report.html").read_text().replace("</body>", bad))
    seen = probe(chromium, page, tmp_path / "profile")
    assert seen["broken"] == [first]
    assert "console.error: boom" in seen["errors"] and any(e.startswith("failed to load") for e in seen["errors"])
    assert any('"boom"' in line for line in seen["console"])


def test_a_real_report_in_chromium(chromium, tmp_path):
    page = os.environ.get("HPUN_EDGE_REPORT")
    if not page:
        pytest.skip("HPUN_EDGE_REPORT=<out>/report.html checks a pipeline's report too")
    check_page(chromium, Path(page), tmp_path / "profile")
    keep_screenshot(chromium, Path(page), tmp_path / "profile", tmp_path)
