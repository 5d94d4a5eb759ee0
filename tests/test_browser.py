"""Render report.html in headless Chromium: it loads, logs nothing to the console, and every image decodes.

Skipped (with the reason) when Chromium is absent; `.ci/run` installs it so CI runs this. The screenshot
is kept under ``reports/test-artifacts/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

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

# Injected into a copy of the page only: counts images that failed to decode once everything has loaded.
CHECKER = (
    "<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
    "const bad=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;"
    "document.body.setAttribute('data-images',imgs.length);document.body.setAttribute('data-bad',bad);});</script>"
)


pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def render(html_path: Path, profile: Path, screenshot: Path) -> tuple[str, list[str]]:
    """(DOM after load of a checker-injected copy, console lines from both the copy and the original)."""
    page = html_path.read_text(encoding="utf-8")
    probe = html_path.with_name("browser-check.html")
    # The report's CSP forbids scripts; the checker copy allows inline script and nothing more.
    probe.write_text(
        page.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';").replace(
            "</body>", CHECKER + "</body>"
        ),
        encoding="utf-8",
    )
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run(
        [*common, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    shot = subprocess.run(
        [*common, f"--screenshot={screenshot}", "--window-size=1280,2400", html_path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    console = [ln for ln in (dom.stderr + shot.stderr).splitlines() if ":CONSOLE" in ln]
    return dom.stdout, console


def check_report(html_path: Path, tmp_path: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    dom, console = render(html_path, tmp_path / "profile", shot)
    assert console == [], f"console messages: {console}"
    m = re.search(r'data-images="(\d+)" data-bad="(\d+)"', dom)
    assert m, "the page did not finish loading"
    assert int(m[1]) >= 1 and int(m[2]) == 0, f"{m[2]} of {m[1]} images failed to decode"
    assert "<h1>" in dom and "Summary" in dom
    assert shot.exists() and shot.stat().st_size > 10_000


def test_report_renders_in_chromium(audit_run: Path, tmp_path: Path) -> None:
    check_report(write_report(audit_run), tmp_path, "report-fake-audit")


def test_planted_script_stays_inert(audit_run: Path, tmp_path: Path) -> None:
    """The planted <script>alert()</script> and <img onerror> never run: the DOM has no such elements."""
    dom, console = render(write_report(audit_run), tmp_path / "profile", tmp_path / "shot.png")
    assert console == []
    assert "alert('x')</script>" not in dom.replace("&lt;/script&gt;", "")
    assert "onerror=" not in re.sub(r"&lt;.*?&gt;", "", dom)
