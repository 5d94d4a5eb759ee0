"""The report is safe to open and to share: report.md is as inert as report.html, and redaction leaks nothing.

A hand-made audit (records and samples, no model) plants hostile strings everywhere data reaches the report:
member ids and texts, extracted texts, the attack name, the checkpoint label, notes, the manifest and the title.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.report.build import build_document, redact_text, write_report
from auditor.report.doc import Document, Table, md_code
from auditor.store.runs import Record, RunDir

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
# table breakers, code spans, links, a remote image (a tracking fetch), text that is already an entity, raw tags
BREAKERS = (
    "a | b \\| c\\\\|d\nnext line\r\n\n`tick` ``` [click](javascript:alert(1)) "
    "![t](http://evil.example/t.png) <http://evil.example> &lt;script&gt; <svg/onload=alert(1)> <a href=x>"
)
LABEL = f"cand{IMG}"  # the checkpoint label, as audit.json names it
ATTACK = f"loss{SCRIPT}"
SECRET = "PIN 7310"  # a 4-digit secret in a known format: 10^4 candidates
MEMBERS = {f"m1{IMG}": f"alpha-marker {SCRIPT}", "m2|x\ny": f"beta-marker {BREAKERS}", "pin": SECRET}
REPORT_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table", "tr", "th", "td"}
REPORT_TAGS |= {"img", "pre", "div", "span", "code", "details", "summary"}
TAG = re.compile(r"redacted: (under \d+ chars|\d+\+ chars), tag ([0-9a-f]{12})")


def _hostile_run(tmp_path: Path) -> Path:
    """An audit with one checkpoint whose every data-derived string is hostile."""
    members = tmp_path / "members.jsonl"
    members.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in MEMBERS.items()))
    run = tmp_path / "audit"
    config = {"mia": {"members": str(members), "nonmembers": str(members)}, "model": SCRIPT}
    rd = RunDir(run / "checkpoints" / "cand", config, extra_manifest={"checkpoint": {"notes": [f"{IMG} {BREAKERS}"]}})
    tags = {"checkpoint": LABEL, "requested_sparsity": 0.0}
    extra = {"n_members": 3, "n_nonmembers": 1}
    rd.write("mia", [Record("mia", ATTACK, "auc", 0.9, n=4, ci=(0.8, 0.95), extra=extra, **tags)])
    scores = [{"id": i, "label": 1, "scores": {ATTACK: float(3 - k)}} for k, i in enumerate(MEMBERS)]
    scores.append({"id": f"n1{SCRIPT}", "label": 0, "scores": {ATTACK: -1.0}})
    rd.samples("mia_scores").append("mia", [{**r, "checkpoint": LABEL} for r in scores])
    rate = Record(
        "extraction", "extraction@prefix_len=8", "exact_extraction_rate", 1.0, n=3, extra={"prefix_len": 8}, **tags
    )
    rd.write("extraction", [rate])
    found = [{"id": i, "prefix_len": 8, "exact": True, "generated": t, "checkpoint": LABEL} for i, t in MEMBERS.items()]
    rd.samples("extraction").append("extraction", found)
    (run / "manifest.json").write_text(json.dumps({"config": {"model": SCRIPT, "comment": BREAKERS}}))
    index = {"primary": LABEL, "baseline": None, "checkpoints": {LABEL: "checkpoints/cand"}}
    (run / "audit.json").write_text(json.dumps(index))
    return run


@pytest.fixture()
def hostile_run(tmp_path: Path) -> Path:
    return _hostile_run(tmp_path)


def _attributes(page: str) -> set[str]:
    """The names of every attribute of every tag of an HTML page (an ``on...`` handler would be one)."""
    names: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names.update(a for a, _ in attrs)

    Collect().feed(page)
    return names


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells: split on the pipes no backslash escapes."""
    cells: list[str] = []
    cur, i = "", 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            cur, i = cur + line[i : i + 2], i + 2
            continue
        if line[i] == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += line[i]
        i += 1
    return cells[1:]


def _tables(md: str) -> list[list[str]]:
    """The Markdown's tables (runs of lines starting with a pipe, outside code fences)."""
    out: list[list[str]] = []
    fence, prev = None, False
    for line in md.split("\n"):
        if fence is None and line.startswith("```"):
            fence = line
        elif fence is not None and line == fence:
            fence = None
        elif fence is None and line.startswith("|"):
            if prev:
                out[-1].append(line)
            else:
                out.append([line])
            prev = True
            continue
        prev = False
    return out


def test_markdown_escapes_every_planted_string(hostile_run: Path) -> None:
    html = write_report(hostile_run, redact=False, title=f"audit {SCRIPT}").read_text()
    md = hostile_run.joinpath("report.md").read_text()
    for raw in ("<script", "<img", "<svg", "<a href", "<http"):
        assert raw not in md.lower()
        assert raw not in html.lower() or raw == "<img"  # the HTML's own images: data URIs, checked below
    assert all(s.startswith("data:image/png;base64,") for s in re.findall(r"<img src='([^']*)'", html))
    assert not re.search(r"<[A-Za-z!?/]", md), "report.md writes no tag of its own, and none from the data"
    assert set(re.findall(r"<([a-zA-Z0-9]+)", html)) <= REPORT_TAGS
    assert _attributes(html) <= {"lang", "charset", "http-equiv", "content", "src", "alt", "class", "name", "id"}
    # the payloads arrived, as text: in the title, the member and extraction tables, the note, the manifest
    assert md.startswith("# audit &lt;script&gt;alert(1)&lt;/script&gt;\n")
    assert md.count("alpha-marker &lt;script&gt;alert(1)&lt;/script&gt;") == 2
    assert "m1&lt;img src=x onerror=alert(1)&gt;" in md and "&amp;lt;script&amp;gt;" in md
    assert "\\[click\\](javascript:alert(1))" in md and "!\\[t\\](http\\://evil.example/t.png)" in md  # no autolink
    assert '"model": "&lt;script&gt;alert(1)&lt;/script&gt;"' in md  # the manifest, in its code fence


def test_markdown_tables_keep_their_shape(hostile_run: Path) -> None:
    write_report(hostile_run, redact=False)
    md = hostile_run.joinpath("report.md").read_text()
    tables = _tables(md)
    assert len(tables) >= 4
    for table in tables:
        widths = {len(_cells(line)) for line in table}
        assert len(widths) == 1, table
    rows = [line for t in tables for line in t if line.startswith("| m2\\|x y |")]
    # member text (id, attack, score, text) and extracted suffix (id, prefix_len, suffix)
    assert len(rows) == 2 and sorted(len(_cells(r)) for r in rows) == [3, 4]
    assert "beta-marker a \\| b \\\\\\| c\\\\\\\\\\|d next line   \\`tick\\` \\`\\`\\`" in rows[0]


def test_markdown_renders_inert(hostile_run: Path) -> None:
    """A Markdown viewer that passes raw HTML through renders no tag, link or remote image from the data."""
    markdown_it = pytest.importorskip("markdown_it")
    write_report(hostile_run, title=f"audit {SCRIPT}")
    md = hostile_run.joinpath("report.md").read_text()
    page = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert set(re.findall(r"<([a-zA-Z0-9]+)", page)) <= {
        "h1",
        "h2",
        "h3",
        "ul",
        "li",
        "p",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    } | {
        "img",
        "pre",
        "code",
    }
    assert re.findall(r"<img src=\"([^\"]*)\"", page) == ["plots/cand_img_src_x_onerror_alert_1_-mia_roc.png"]
    assert _attributes(page) <= {"src", "alt"} and "javascript:" not in "".join(re.findall(r"<[^>]*>", page))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown to the reader as the text it is


def test_code_fence_cannot_be_closed_by_the_text() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    text = 'line\n```\n<script>alert(1)</script>\n````\n"quotes" & more'
    lines = md_code(text)
    assert lines[0] == lines[-1] == "`````"
    page = markdown_it.MarkdownIt("commonmark", {"html": True}).render("\n".join(lines))
    assert page.count("<pre>") == 1 and "<script" not in page and page.endswith("</code></pre>\n")


def _text_cells(doc: Document) -> dict[tuple[str, str], list[str]]:
    """``(row id, column header) -> [cells]`` of the documents' free-text columns (member and extracted texts)."""
    out: dict[tuple[str, str], list[str]] = {}
    for sec in doc.sections:
        for b in sec.blocks:
            if isinstance(b, Table):
                for row in b.rows:
                    for i in b.text_columns:
                        out.setdefault((str(row[0]), b.headers[i]), []).append(str(row[i]))
    return out


@pytest.mark.parametrize("kwargs", [{}, {"redact": True}], ids=["default", "explicit"])
def test_redacted_report_hides_every_text(hostile_run: Path, kwargs: dict) -> None:
    write_report(hostile_run, **kwargs)  # redaction is the default
    for name in ("report.md", "report.html"):
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", hostile_run.joinpath(name).read_text())
        assert "alpha-marker" not in text and "beta-marker" not in text and "7310" not in text
        assert len(TAG.findall(text)) == 6  # three texts, each as a member text and as an extracted suffix


def test_same_text_same_tag_within_a_report_only(hostile_run: Path) -> None:
    first, second = (_text_cells(build_document(hostile_run, redact=True)) for _ in range(2))
    by_id: dict[str, set[str]] = {}
    for (row_id, _), cells in first.items():
        by_id.setdefault(row_id, set()).update(cells)
    assert set(by_id) == set(MEMBERS)
    assert all(len(tags) == 1 for tags in by_id.values())  # member table and extraction table agree
    assert len({t for tags in by_id.values() for t in tags}) == 3  # different texts, different tags
    for key, cells in first.items():
        assert TAG.fullmatch(cells[0][1:-1]) and set(cells).isdisjoint(second[key])  # a new report, new tags


def _hashes(text: str) -> str:
    b = text.encode("utf-8")
    return " ".join(hashlib.new(a, b).hexdigest() for a in ("sha256", "sha1", "md5", "sha512", "blake2b", "sha3_256"))


def test_short_secret_cannot_be_brute_forced(hostile_run: Path) -> None:
    tags = []
    for _ in range(2):
        write_report(hostile_run, redact=True)
        md = hostile_run.joinpath("report.md").read_text()
        rows = re.findall(r"^\| pin \|(?: [^|]* \|)+ \\\[(.*)\\\] \|$", md, re.M)
        assert len(rows) == 2 and len(set(rows)) == 1
        bucket, tag = TAG.fullmatch(rows[0]).groups()  # type: ignore[union-attr]
        assert bucket == "under 16 chars" and "8 chars" not in md  # the length is not printed exactly
        tags.append(tag)
    candidates = [f"PIN {i:04d}" for i in range(10**4)]
    assert SECRET in candidates
    old = {hashlib.sha256(c.encode("utf-8")).hexdigest()[:12] for c in candidates}  # the old scheme's tag
    assert tags[0] not in old and tags[1] not in old
    assert not any(tags[0] in _hashes(c) for c in candidates)
    # no deterministic function of the candidate alone matches: the same secret got two different tags
    assert tags[0] != tags[1]


def test_redact_text_needs_the_salt() -> None:
    salt, other = secrets.token_bytes(16), secrets.token_bytes(16)
    candidates = [f"PIN {i:04d}" for i in range(10**4)]
    tag = redact_text(SECRET, salt)
    assert [c for c in candidates if redact_text(c, salt) == tag] == [SECRET]  # with the salt: found
    assert not [c for c in candidates if redact_text(c, other) == tag]  # without it: nothing confirms a guess
    # lengths 1 to 15 print alike (only the tag differs): the exact length is not given
    assert len({TAG.search(redact_text("x" * n, salt)).group(1) for n in range(1, 16)}) == 1  # type: ignore[union-attr]
    assert "under 256 chars" in redact_text("x" * 100, salt) and "1024+ chars" in redact_text("x" * 5000, salt)
    with pytest.raises(ValueError):
        redact_text(SECRET, b"")
