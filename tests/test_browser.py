"""Render report.html in headless Chromium at a desktop (1400 px) and a phone (390 px) width: it loads, logs
nothing to the console, every image decodes, and at 390 px nothing is wider than the screen and the verdict
and its PASS/FAIL badges are in view.

Skipped (with the reason) when Chromium is absent; `.ci/run` installs it so CI runs this. The screenshots are
written under the test's tmp dir, kept under ``reports/test-artifacts/`` (git-ignored) for a human to look at,
and copied to ``$MEMAUDIT_SCREENSHOT_DIR`` when that is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.report.build import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "reports" / "test-artifacts"
SCREENSHOT_DIR = "MEMAUDIT_SCREENSHOT_DIR"  # when set, both screenshots are copied there too
DESKTOP, PHONE = 1400, 390
HEIGHT = 2400
SLACK = 2  # px of rounding a layout may show at the right edge

# Injected into a copy of the page only: once everything has loaded, counts images that failed to decode and
# measures the layout (page width, viewport, the verdict's and the first PASS/FAIL badge's right edge); the
# figures are set on <body> and, when the page is framed (the phone width), posted to the parent page.
CHECKER = (
    "<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
    "const bad=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
    "const right=q=>{const el=document.querySelector(q);return el?Math.ceil(el.getBoundingClientRect().right):-1;};"
    "const out={images:imgs.length,bad:bad,scroll:document.documentElement.scrollWidth,view:window.innerWidth,"
    "verdict:right('#verdict'),badge:right('.card .badge'),"
    "imgright:Math.max(0,...imgs.map(i=>Math.ceil(i.getBoundingClientRect().right)))};"
    "for(const[k,v]of Object.entries(out))document.body.setAttribute('data-'+k,v);"
    "if(window.parent!==window)window.parent.postMessage(out,'*');});</script>"
)
# A phone-width frame around the checker copy: headless Chromium will not open a window under 500 px wide, so
# the page is laid out (media queries included) in a 390 px iframe; the frame copies the posted figures.
FRAME = (
    "<!doctype html><html><head><meta charset='utf-8'><style>body{{margin:0}}iframe{{border:0;display:block;"
    "width:{w}px;height:{h}px}}</style></head><body><iframe src='{src}'></iframe><script>"
    "window.addEventListener('message',e=>{{for(const[k,v]of Object.entries(e.data))"
    "document.body.setAttribute('data-'+k,v);}});</script></body></html>"
)


pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([*common, *args], capture_output=True, text=True, timeout=120, check=True)


def _probe(html_path: Path, width: int) -> Path:
    """The checker copy of the page (scripts allowed inline, nothing more), framed at ``width`` when narrow."""
    page = html_path.read_text(encoding="utf-8")
    probe = html_path.with_name("browser-check.html")
    # The report's CSP forbids scripts; the checker copy allows inline script and nothing more.
    probe.write_text(
        page.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';").replace(
            "</body>", CHECKER + "</body>"
        ),
        encoding="utf-8",
    )
    if width >= 500:
        return probe
    frame = html_path.with_name(f"browser-frame-{width}.html")
    frame.write_text(FRAME.format(w=width, h=HEIGHT, src=probe.name), encoding="utf-8")
    return frame


def _layout(dom: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-([a-z]+)="(-?\d+)"', dom)}


def render(html_path: Path, profile: Path, screenshot: Path, width: int = DESKTOP) -> tuple[str, list[str], dict]:
    """(DOM after load of a checker-injected copy, console lines, layout figures) at ``width`` px; the screenshot
    is of the page itself (cropped to ``width`` when framed)."""
    page = _probe(html_path, width)
    window = f"--window-size={max(width, 500)},{HEIGHT}"
    dom = _chromium(profile, window, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    target = html_path if width >= 500 else page
    shot = _chromium(profile, f"--screenshot={screenshot}", window, "--virtual-time-budget=5000", target.as_uri())
    if width < 500:
        from PIL import Image

        with Image.open(screenshot) as im:
            im.crop((0, 0, width, im.height)).save(screenshot)
    console = [ln for ln in (dom.stderr + shot.stderr).splitlines() if ":CONSOLE" in ln]
    return dom.stdout, console, _layout(dom.stdout)


def _keep(shot: Path) -> None:
    """Copy a screenshot to $MEMAUDIT_SCREENSHOT_DIR when it is set."""
    if os.environ.get(SCREENSHOT_DIR):
        out = Path(os.environ[SCREENSHOT_DIR])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, out / shot.name)


def check_report(html_path: Path, tmp_path: Path, name: str) -> dict[int, Path]:
    """Render at desktop and phone width; assert it loads cleanly and fits a phone; return the screenshots."""
    shots = {}
    for width in (DESKTOP, PHONE):
        shot = tmp_path / f"{name}-{width}px.png"
        dom, console, layout = render(html_path, tmp_path / "profile", shot, width)
        if width >= 500:  # the frame around the phone-width copy holds no report text of its own
            assert "<h1>" in dom and "Verdict: FAIL" in dom
        assert console == [], f"console messages: {console}"
        assert "images" in layout, "the page did not finish loading"
        assert layout["images"] >= 1 and layout["bad"] == 0, f"{layout['bad']} of {layout['images']} images failed"
        assert layout["view"] == width
        # nothing widens the page past the screen: wide tables scroll inside their box, images shrink
        assert layout["scroll"] <= width + SLACK, f"page is {layout['scroll']} px wide at {width} px"
        assert layout["imgright"] <= width + SLACK
        # the verdict and the first PASS/FAIL badge are on screen without scrolling sideways
        assert 0 < layout["verdict"] <= width + SLACK and layout["badge"] <= width + SLACK
        assert shot.exists() and shot.stat().st_size > 10_000
        with open(shot, "rb") as f:
            assert f.read(24)[16:20] == width.to_bytes(4, "big"), "the screenshot is not the width asked for"
        _keep(shot)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, ARTIFACTS / shot.name)
        shots[width] = shot
    return shots


def _gate(run: Path) -> None:
    """A failing gate.json, so the first screen shows a verdict with PASS and FAIL badges."""
    rules = [
        ("mia.loss.auc", "<=", 0.9, 0.6, False),
        ("exposure.max", "<=", 13.3, 20.0, True),
        ("extraction_canaries.by_repeats.64.exact_extraction_rate", "<=", 1.0, 0.01, False),
    ]  # a long path
    results = [{"rule": f"{p} {op} {t}", "path": p, "op": op, "value": v, "threshold": t, "baseline": None,
                "passed": ok} for p, op, v, t, ok in rules]  # fmt: skip
    (run / "gate.json").write_text(json.dumps({"passed": False, "rules": results, "warnings": []}))


def test_report_renders_in_chromium(audit_run: Path, tmp_path: Path) -> None:
    _gate(audit_run)
    shots = check_report(write_report(audit_run), tmp_path, "report-fake-audit")
    assert set(shots) == {DESKTOP, PHONE}


def test_planted_script_stays_inert(audit_run: Path, tmp_path: Path) -> None:
    """The planted <script>alert()</script> and <img onerror> never run: the DOM has no such elements."""
    dom, console, _ = render(write_report(audit_run, redact=False), tmp_path / "profile", tmp_path / "shot.png")
    assert console == []
    assert "alert('x')</script>" not in dom.replace("&lt;/script&gt;", "")
    assert "onerror=" not in re.sub(r"&lt;.*?&gt;", "", dom)
