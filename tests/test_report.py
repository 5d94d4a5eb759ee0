"""The report: escaping, redaction, self-containment, comparison deltas (on a hand-made audit of records)."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from test_report_records import OLD_FILES

from auditor.cli import main
from auditor.report.build import redact_text, write_report


def test_html_escapes_every_planted_string(audit_run: Path) -> None:
    html = write_report(audit_run).read_text()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # the planted text reached the page in every place it was planted: member text, extraction, note, manifest
    assert html.count("&lt;script&gt;") >= 5
    # the only tags are the report's own: no script, iframe, object, link or external source
    tags = set(re.findall(r"<([a-zA-Z0-9]+)", html))
    assert tags <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "p",
        "table",
        "tr",
        "th",
        "td",
        "img",
        "pre",
    }
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//)", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    srcs = re.findall(r"<img src='([^']*)'", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not any((audit_run / "checkpoints" / c / f).exists() for c in ("cand", "prev") for f in OLD_FILES)


def test_comparison_side_by_side_with_deltas(audit_run: Path) -> None:
    md = write_report(audit_run).with_suffix(".md").read_text()
    assert "| figure | cand | prev | cand - prev |" in md
    assert "| mia.loss.auc | 0.9 | 0.7 | +0.2000 |" in md
    assert "| exposure.max | 13.3 | 13.3 | +0.0000 |" in md


def test_redact_hides_memorized_text(audit_run: Path) -> None:
    assert main(["report", str(audit_run), "--redact"]) == 0
    tags = {}
    for name in ("report.html", "report.md"):
        text = (audit_run / name).read_text()
        assert "member one" not in text and "secret" not in text.replace("secrets", "")
        tags[name] = re.findall(r"redacted: under \d+ chars, tag ([0-9a-f]{12})", text)
    # m1's text, m2's and m1's extracted suffix, in both checkpoints' tables: six rows, three texts, three tags
    assert len(tags["report.md"]) == 6 and len(set(tags["report.md"])) == 3
    assert tags["report.html"] == tags["report.md"]  # one document, one salt, rendered twice
    salt = bytes(range(16))
    tag = hmac.new(salt, b"abc", hashlib.sha256).hexdigest()[:12]
    assert redact_text("abc", salt) == f"[redacted: under 16 chars, tag {tag}]"


def test_report_errors(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2
