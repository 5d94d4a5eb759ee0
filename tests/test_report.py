"""The report: escaping, redaction, self-containment, comparison deltas, the first screen, number format and plots
(on hand-made runs of records)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pytest
from test_report_records import OLD_FILES, make_sweep_run

from auditor.cli import main
from auditor.report import plots
from auditor.report.build import build_document, redact_text, write_report
from auditor.report.doc import Cards, Verdict, render_html
from auditor.report.numbers import Bits, BitsCI, delta, fmt
from auditor.report.sections import mia_rows


@pytest.fixture()
def sweep_run(tmp_path: Path) -> Path:
    return make_sweep_run(tmp_path / "sweep")


def test_html_escapes_every_planted_string(audit_run: Path) -> None:
    html = write_report(audit_run, redact=False).read_text()
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
        "div",
        "span",
        "code",
        "details",
        "summary",
    }
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//)", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    srcs = re.findall(r"<img src='([^']*)'", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not any((audit_run / "checkpoints" / c / f).exists() for c in ("cand", "prev") for f in OLD_FILES)


def test_comparison_side_by_side_with_deltas(audit_run: Path) -> None:
    md = write_report(audit_run).with_suffix(".md").read_text()
    assert "| figure | cand | prev | cand - prev |" in md
    assert "| mia.loss.auc | 0.900 | 0.700 | +0.200 |" in md  # rates and AUCs: 3 decimals
    assert "| exposure.max | 13.3 | 13.3 | +0.0 |" in md  # bits: 1 decimal


def test_redact_hides_memorized_text(audit_run: Path) -> None:
    assert main(["report", str(audit_run)]) == 0  # redacted by default
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
    assert main(["report", str(audit_run), "--no-redact"]) == 0
    assert "member one" in (audit_run / "report.md").read_text()


def test_report_errors(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2


def _gate(run: Path, rules: list[tuple[str, str, float, float, bool]]) -> None:
    """A gate.json as ``auditor gate`` writes it: (path, op, value, threshold, passed) per rule."""
    results = [
        {"rule": f"{p} {op} {t}", "path": p, "op": op, "value": v, "threshold": t, "baseline": None, "passed": ok}
        for p, op, v, t, ok in rules
    ]
    gate = {"passed": all(r["passed"] for r in results), "rules": results, "warnings": []}
    (run / "gate.json").write_text(json.dumps(gate))


def _fingerprint(run: Path, label: str, fp: str) -> None:
    path = run / "checkpoints" / label / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["checkpoint"] |= {"source": f"hub/{label}-model", "fingerprint": fp}
    path.write_text(json.dumps(manifest))


FILES = "checkpoint files (sha256 of every byte of config, tokenizer and weights)"  # the label says what is hashed


def test_first_screen_is_the_verdict_and_the_rules_figures(audit_run: Path) -> None:
    rules = [("exposure.max", "<=", 13.3, 20.0, True), ("mia.loss.auc", "<=", 0.9, 0.8, False)]
    _gate(audit_run, [*rules, ("mia.loss.auc.ci_low", "<=", 0.85, 0.6, False)])
    _fingerprint(audit_run, "cand", "sha256:" + "ab" * 32)
    doc = build_document(audit_run)
    summary = doc.sections[0]
    verdict, cards = summary.blocks[0], next(b for b in summary.blocks if isinstance(b, Cards))
    assert isinstance(verdict, Verdict) and verdict.status == "FAIL" and "2 of 3 rules failed" in verdict.detail
    facts = dict(verdict.facts)
    assert facts["checkpoint"] == "cand (hub/cand-model)" and facts[FILES] == "sha256:" + "ab" * 32
    assert facts["baseline"] == "prev" and "run date" in facts
    first, low, second = cards.cards  # the failing rules first
    # a rule on the interval's lower end shows the figure itself (the AUC with its CI), the rule names the bound
    assert (low.status, fmt(low.value), fmt(low.ci)) == ("FAIL", "0.900", "[0.850, 0.950]")
    assert "lower end of the 95% interval" in low.meaning
    assert (first.name, first.status, first.value, fmt(first.ci)) == ("mia.loss.auc", "FAIL", 0.9, "[0.850, 0.950]")
    assert "baseline prev: 0.700 (change +0.200)" in first.lines and "lower is better" in first.lines
    assert "cannot tell training members from non-members" in first.meaning
    assert second.status == "PASS" and fmt(second.value) == "13.3" and "bits" in second.meaning
    html = render_html(doc)
    assert "Verdict: FAIL" in html and html.find("id='verdict'") < html.find("<h2>Memorization</h2>")
    # the full table of dotted keys is no longer on the first screen: it sits collapsed, further down
    assert html.find("<h2>Memorization</h2>") < html.find("<details><summary>All ") < html.find(">mia.loss.tpr@1%fpr<")


def test_without_policy_the_fixed_headline_pick(sweep_run: Path) -> None:
    summary = build_document(sweep_run).sections[0]
    assert isinstance(summary.blocks[0], Verdict) and summary.blocks[0].status == "NO POLICY"
    cards = next(b for b in summary.blocks if isinstance(b, Cards)).cards
    names = [c.name for c in cards]
    # the families' headline figures in registry order (the strongest other attack with LOSS), at most six
    assert names == [
        "MIA LOSS AUC",
        "MIA AUC (min_k@0.2)",
        "canary exact extraction rate",
        "exact extraction rate",
        "max canary exposure (bits)",
        "fact recall accuracy",
    ]
    by = {c.name: c for c in cards}
    assert fmt(by["max canary exposure (bits)"].value) == "30.0"  # 20 + 10 in the fixture
    assert "ceiling 40.0 bits" in by["max canary exposure (bits)"].meaning
    assert "higher is better" in by["fact recall accuracy"].lines and "lower is better" in by["MIA LOSS AUC"].lines
    assert fmt(by["fact recall accuracy"].ci) == "[0.750, 0.850]"


def test_tpr_at_an_fpr_below_one_non_member_is_not_a_number(audit_run: Path) -> None:
    md = write_report(audit_run).with_suffix(".md").read_text()
    row = "| cand | loss | 0.900 | \\[0.850, 0.950\\] | n/a (needs ≥ 100 non-members) | n/a |"
    assert row + " n/a (needs ≥ 1,000 non-members) | n/a | 2 | 1 |" in md
    assert "| mia.loss.tpr@1%fpr | n/a (needs ≥ 100 non-members) |" in md  # the collapsed table too
    rows = mia_rows({"loss": {"auc": 0.7, "tpr@1%fpr": 0.2, "tpr@1%fpr_ci": [0.1, 0.3], "n_nonmembers": 150}})
    assert [fmt(c) for c in rows[0][3:7]] == ["0.200", "[0.100, 0.300]", "n/a (needs ≥ 1,000 non-members)", "n/a"]


def test_one_number_format() -> None:
    assert [fmt(v) for v in (0.12345, 1.0, 3, [0.1, 0.25], None)] == ["0.123", "1.000", "3", "[0.100, 0.250]", ""]
    assert fmt(Bits(13.36)) == "13.4" and fmt(BitsCI(1.04, 2.0)) == "[1.0, 2.0]"
    assert fmt(0.00002) == "2.0e-05" and fmt(0.0) == fmt(6.9e-18) == "0.000"  # a tiny rate is not zero; noise is
    assert delta(0.9, 0.7) == "+0.200" and delta(Bits(5.0), Bits(7.25), bits=True) == "-2.2"


def test_default_is_redacted(audit_run: Path) -> None:
    html = write_report(audit_run).read_text()
    assert "member one" not in html and "redacted: under" in html
    assert "member one" in write_report(audit_run, redact=False).read_text()


def test_plots_roc_axis_and_repeat_curves(sweep_run: Path, monkeypatch) -> None:
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or path)
    rows = [{"label": 1, "scores": {"a": i, "b": -i}} for i in range(5)]
    rows += [{"label": 0, "scores": {"a": i - 3, "b": 2 - i}} for i in range(8)]
    plots.plot_roc(rows, ["a", "b"], sweep_run / "roc.png", "ROC, cand")
    ax = figs[-1].axes[0]
    assert ax.get_xlim()[0] == 1 / 8 and ax.get_ylim()[1] > 1 and ax.get_title() == "ROC, cand"
    curves = [ln for ln in ax.get_lines() if ln.get_label() in ("a", "b")]
    assert len({ln.get_color() for ln in curves}) == 2
    assert all(t.get_fontsize() >= 9 for t in ax.get_legend().get_texts())
    plots.plot_by_repeats({"cand": [(1, 2.0), (4, 9.0)]}, "exposure (bits)", sweep_run / "exp.png", ceiling=12.0)
    dashed = [ln for ln in figs[-1].axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [12.0, 12.0]


def test_repeat_plots_in_the_report(sweep_run: Path) -> None:
    html = write_report(sweep_run).read_text()
    for name, alt in (("extraction_by_repeats", "exact extraction rate against repeats in training"),
                      ("exposure_by_repeats", "exposure against repeats in training")):  # fmt: skip
        assert f"alt='{alt}'" in html and (sweep_run / "plots" / f"{name}.png").stat().st_size > 5000
    md = (sweep_run / "report.md").read_text()
    assert "| repeats | n | mean | max |" in md and "| 4 | 5 | 19.0 | 22.0 |" in md  # the tables stay
