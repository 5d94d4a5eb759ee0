"""A redacted report can leave the machine: real runs (mia, extract, exposure, sweep) on the micro lab's model,
copied into a folder whose path and file names carry planted strings, with ids and texts carrying them too.

No redacted report.html / report.md names the temporary folder or the planted directory; no Markdown output
of a run holds a raw tag, an ``<http...>`` autolink or an unescaped link; the HTML holds no live script.
``auditor report`` refuses a run whose JSON files are damaged, naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest

from auditor.cli.main import main
from auditor.report.markdown import md_cell, md_text

pytestmark = pytest.mark.usefixtures("one_thread")

HOME = "home/secret-user/data"  # planted under the test's folder: /tmp/.../home/secret-user/data
ABS = "/" + HOME
SCRIPT = "<script>alert(1)</script>"
LINK = "[click](http://evil.example)"
AUTO = "<http://evil.example>"
MODEL = "ckpt[click](evil.example)<b>"  # the checkpoint folder's name (Linux takes it)
FILES = {"members": "members[click](evil.example)<i>.jsonl", "nonmembers": "non<script>.jsonl"}
FILES["canaries"] = "canaries[x](y).jsonl"


def _plant(lab: Path, src: str, dest: Path, n: int, key: str) -> None:
    rows = [json.loads(line) for line in (lab / src).read_text(encoding="utf-8").splitlines()][:n]
    for i, r in enumerate(rows):
        r["id"] = f"{r['id']}{SCRIPT}{LINK}{AUTO}{ABS}/{i}" if i % 2 else f"{r['id']} {SCRIPT} {LINK} {ABS}/{i}"
        r[key] = f"{r[key]} {SCRIPT} {LINK} {AUTO} {ABS}"
    dest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _runs(root: Path, lab: Path) -> dict[str, Path]:
    """The four runs, made from ``root`` with relative paths (mia, sweep) and absolute ones (extract, exposure)."""
    data = root / HOME
    data.mkdir(parents=True)
    shutil.copytree(lab / "model", data / MODEL)
    _plant(lab, "members.jsonl", data / FILES["members"], 6, "text")
    _plant(lab, "nonmembers.jsonl", data / FILES["nonmembers"], 6, "text")
    _plant(lab, "canaries.jsonl", data / FILES["canaries"], 3, "prefix")
    rel = {k: f"{HOME}/{v}" for k, v in FILES.items()} | {"model": f"{HOME}/{MODEL}"}
    full = {k: str(root / v) for k, v in rel.items()}
    with contextlib.chdir(root):
        mia = ["mia", "--model", rel["model"], "--members", rel["members"], "--nonmembers", rel["nonmembers"]]
        assert main([*mia, "--n-boot", "20", "--out", "mia"]) == 0
        assert main(["extract", "--model", full["model"], "--data", full["members"], "--prefix-len", "8"] +
                    ["--suffix-len", "8", "--out", str(root / "extract")]) == 0  # fmt: skip
        assert main(["exposure", "--model", full["model"], "--canaries", full["canaries"], "--out", "exposure"]) == 0
        sweep = ["sweep", "--model", rel["model"], "--lab", str(lab), "--members", rel["members"], "--nonmembers"]
        sweep += [rel["nonmembers"], "--extraction-data", rel["members"], "--canaries", rel["canaries"]]
        sweep += ["--methods", "magnitude", "--sparsities", "0,0.5", "--families", "mia,extraction,exposure"]
        assert main([*sweep, "--prefix-lens", "8", "--suffix-len", "8", "--limit", "6", "--out", "sweep"]) == 0
    return {name: root / name for name in ("mia", "extract", "exposure", "sweep")}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, micro_lab: Path) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("share")
    return root, _runs(root, micro_lab)


def _without_images(text: str) -> str:
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)


def test_redacted_reports_name_no_folder(planted: tuple[Path, dict[str, Path]]) -> None:
    root, runs = planted
    for name, run in runs.items():
        assert main(["report", str(run)]) == 0  # from the test's folder, not the one the runs were made in
        for f in ("report.html", "report.md"):
            text = _without_images((run / f).read_text(encoding="utf-8"))
            for secret in (str(root), ABS, HOME, "secret-user"):
                assert secret not in text, (name, f, secret)
        md = (run / "report.md").read_text(encoding="utf-8")
        assert "ckpt\\[click\\](evil.example)&lt;b&gt;" in md, name  # the checkpoint, by its last component
    manifest = (runs["mia"] / "report.md").read_text(encoding="utf-8").split("manifest.json:")[-1]  # a code fence
    assert "&lt;local path .../members[click](evil.example)&lt;i&gt;.jsonl&gt;" in manifest  # data: its file name


def test_unredacted_report_keeps_the_paths(planted: tuple[Path, dict[str, Path]]) -> None:
    _, runs = planted
    assert main(["report", "--no-redact", str(runs["extract"])]) == 0
    assert "secret-user" in (runs["extract"] / "report.md").read_text(encoding="utf-8")
    assert main(["report", str(runs["extract"])]) == 0


def test_markdown_outputs_are_inert(planted: tuple[Path, dict[str, Path]]) -> None:
    _, runs = planted
    for name, run in runs.items():
        for redact in ([], ["--no-redact"]):
            assert main(["report", *redact, str(run)]) == 0
            for md in run.rglob("*.md"):
                text = md.read_text(encoding="utf-8")
                assert "<script" not in text and "<http" not in text, (name, md.name)
                assert not re.search(r"(?<!\\)\]\(http", text), (name, md.name)
                assert not re.search(r"(?<![\\\w])https?://", text), (name, md.name)  # no bare autolink
            html = (run / "report.html").read_text(encoding="utf-8")
            assert "<script>alert" not in html, name
            assert name != "mia" or "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the ids arrived, as text
    markdown_it = pytest.importorskip("markdown_it")
    page = (
        markdown_it.MarkdownIt("commonmark", {"html": True})
        .enable("table")
        .render((runs["mia"] / "report.md").read_text(encoding="utf-8"))
    )
    assert "<a " not in page and "<script" not in page


def test_md_text_escapes_each_planted_string() -> None:
    for s in (SCRIPT, LINK, AUTO, "www.evil.example", "a | b\nc", "# title", "- item", "1. first"):
        cell, text = md_cell(s), md_text(s)
        assert "<" not in cell and "\n" not in cell and not re.search(r"(?<!\\)[\[\]|]", cell)
        assert not re.search(r"(?<!\\)://|(?<!\\)www\.", cell.replace("www\\.", ""))
        assert not re.match(r"\s*(#|-|\d+\.)", text)
    assert md_cell("min_k_pp@0.2") == "min_k_pp@0.2" and md_cell("a & b") == "a &amp; b"


@pytest.mark.parametrize(
    ("name", "file", "damage"),
    [("mia", "mia.json", "half"), ("extract", "extraction.json", "empty"), ("sweep", "sweep.json", "text")],
)
def test_report_refuses_a_damaged_run_file(
    planted: tuple[Path, dict[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    file: str,
    damage: str,
) -> None:
    run = tmp_path / name
    shutil.copytree(planted[1][name], run, ignore=shutil.ignore_patterns("report.*"))
    raw = (run / file).read_bytes()
    (run / file).write_bytes({"half": raw[: len(raw) // 2], "empty": b"", "text": b"not json\n"}[damage])
    capsys.readouterr()
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(run / file) in err
    assert "same --out" in err and "--overwrite" in err
    assert not (run / "report.html").exists() and not (run / "report.md").exists()
