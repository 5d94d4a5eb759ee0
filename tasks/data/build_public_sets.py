"""Build the public (almost surely seen) and novel (cannot have been seen) text windows.

Two pools of plain-text files, each file a header-free body:

* ``tasks/data/public/*.txt``: license texts and the Zen of Python, copied from this machine
  (see ``tasks/data/public/SOURCES.md``). These are among the most duplicated texts on the web
  (every ``COPYING``/``LICENSE`` file of every repository), so a web-trained model has seen them many times.
* ``tasks/data/novel/*.txt``: text written in 2026, after SmolLM2's training data was collected:
  prose paragraphs of this project's own docs, and seeded random prose (license-like and expository
  registers) composed from word lists by :func:`generated_prose`.

Usage::

    .venv/bin/python tasks/data/build_public_sets.py            # cut windows from the committed .txt files
    .venv/bin/python tasks/data/build_public_sets.py --refresh  # first re-copy/re-generate the .txt files

The default run reads only the committed ``.txt`` files, so the windows do not change when the README,
the machine's license files or installed packages change. ``--refresh`` rewrites the pools from their
sources (local paths below; the generated prose is deterministic, seed fixed).

Windows (deterministic): each file is cut at line boundaries (original line breaks and indentation kept,
the window stripped at both ends) into consecutive, non-overlapping windows of at least ``MIN_WORDS``
whitespace words (a window closes at the first line end that reaches ``MIN_WORDS``; the file's leftover
tail below ``MIN_WORDS`` is dropped). A file shorter than ``MIN_WORDS`` but with at least ``SHORT_MIN_WORDS``
words is one whole-file window (the Zen of Python). Windows never cross files. Of a file's windows at most
``MAX_PER_FILE`` are kept, evenly spaced and always including the first (the start of a license is its most
duplicated part), so one long license does not dominate. Rows: ``{"id": "<file>-<k>", "text", "source"}``
where ``k`` is the window's index in its file.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import glob
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prose import generated_prose

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PUBLIC = HERE / "public"
NOVEL = HERE / "novel"

MIN_WORDS = 150  # about 190-230 SmolLM2 tokens: room for a 64-token prefix + 48-token suffix
SHORT_MIN_WORDS = 110  # a whole file this long (but under MIN_WORDS) is one window
MAX_PER_FILE = 8

# ---------------------------------------------------------------------------------------------------------------
# the public pool: where each copy comes from on this machine (documented in public/SOURCES.md)

SITE = sorted(glob.glob(str(ROOT / ".venv/lib/python3*/site-packages")))
PUBLIC_SOURCES = {
    "gpl-3.0.txt": "/usr/share/common-licenses/GPL-3",
    "gpl-2.0.txt": "/usr/share/common-licenses/GPL-2",
    "lgpl-2.1.txt": "/usr/share/common-licenses/LGPL-2.1",
    "apache-2.0.txt": "/usr/share/common-licenses/Apache-2.0",
    "mpl-2.0.txt": "/usr/share/common-licenses/MPL-2.0",
    "bsd-3-clause-ucb.txt": "/usr/share/common-licenses/BSD",
    "mit-six.txt": "site-packages/six-*.dist-info/LICENSE",
    "bsd-3-clause-pallets-click.txt": "site-packages/click-*.dist-info/licenses/LICENSE.txt",
    "psf-2.0.txt": "/usr/lib/python3.11/LICENSE.txt",  # the PSF License Agreement section only
    "zen-of-python.txt": "python: codecs.decode(this.s, 'rot13')",
}


def _site_file(pattern: str) -> Path:
    for site in SITE:
        hits = sorted(glob.glob(str(Path(site) / pattern.removeprefix("site-packages/"))))
        if hits:
            return Path(hits[-1])
    raise FileNotFoundError(f"{pattern} not found under {SITE}")


def _psf_section(text: str) -> str:
    start = text.index("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2")
    end = text.index("BEOPEN.COM LICENSE AGREEMENT")
    return text[start:end]


def public_text(name: str) -> str:
    src = PUBLIC_SOURCES[name]
    if name == "zen-of-python.txt":
        with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
            import this
        return codecs.decode(this.s, "rot13")
    path = _site_file(src) if src.startswith("site-packages/") else Path(src)
    text = path.read_text(encoding="utf-8")
    return _psf_section(text) if name == "psf-2.0.txt" else text


# ---------------------------------------------------------------------------------------------------------------
# the novel pool, (a): prose paragraphs of this project's docs (no headings, code blocks, tables, images)


def doc_paragraphs(path: Path) -> list[str]:
    """Prose paragraphs of a Markdown file: fenced code, tables, headings and bare links dropped.

    A bulleted item counts as a paragraph (its '- ' marker removed); line breaks kept as written."""
    out, para, fenced = [], [], False

    def flush() -> None:
        if para:
            text = "\n".join(para).strip()
            if len(text.split()) >= 12 and not text.endswith(":"):  # drop one-liners and code-block lead-ins
                out.append(text)
            para.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("```"):
            flush()
            fenced = not fenced
            continue
        if fenced or s.startswith("|") or s.startswith("#") or s.startswith("!["):
            flush()
            continue
        if not s:
            flush()
            continue
        if s.startswith(("- ", "* ")):
            flush()
            line = s[2:]
        elif line.startswith("  ") and para:
            line = s  # a bullet's continuation line
        para.append(line.rstrip())
    flush()
    return out


DOC_SOURCES = {  # README.md prose is split in two halves (by paragraphs) so that it can give up to 2 x MAX_PER_FILE
    "docs-readme-prose-1.txt": (ROOT / "README.md", 0),
    "docs-readme-prose-2.txt": (ROOT / "README.md", 1),
    "docs-records-prose.txt": (ROOT / "docs/records.md", None),
}


def doc_text(path: Path, half: int | None) -> str:
    paras = doc_paragraphs(path)
    if half is not None:
        words = [len(p.split()) for p in paras]
        cut = next(i for i in range(len(paras)) if sum(words[: i + 1]) >= sum(words) / 2) + 1
        paras = paras[:cut] if half == 0 else paras[cut:]
    return "\n\n".join(paras) + "\n"


GENERATED = {
    "generated-legal-1.txt": (2026_01, "legal"),
    "generated-legal-2.txt": (2026_02, "legal"),
    "generated-expository-1.txt": (2026_03, "expository"),
    "generated-expository-2.txt": (2026_04, "expository"),
}

# ---------------------------------------------------------------------------------------------------------------


def refresh() -> None:
    PUBLIC.mkdir(parents=True, exist_ok=True)
    NOVEL.mkdir(parents=True, exist_ok=True)
    for name in PUBLIC_SOURCES:
        (PUBLIC / name).write_text(public_text(name).strip("\n") + "\n", encoding="utf-8")
    for old in NOVEL.glob("docs-*.txt"):
        old.unlink()
    for name, (path, half) in DOC_SOURCES.items():
        (NOVEL / name).write_text(doc_text(path, half), encoding="utf-8")
    for name, (seed, register) in GENERATED.items():
        (NOVEL / name).write_text(generated_prose(seed, register), encoding="utf-8")


def windows(text: str) -> list[str]:
    """Consecutive non-overlapping windows of whole lines with at least MIN_WORDS words each."""
    out, cur, n = [], [], 0
    for line in text.splitlines():
        cur.append(line)
        n += len(line.split())
        if n >= MIN_WORDS:
            out.append("\n".join(cur).strip())
            cur, n = [], 0
    if not out and SHORT_MIN_WORDS <= n:
        out.append("\n".join(cur).strip())
    return out


def pick(n: int, k: int) -> list[int]:
    """k evenly spaced indices of range(n), always 0 (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]


def build(pool: Path, out: Path) -> list[dict]:
    rows = []
    for path in sorted(pool.glob("*.txt")):
        wins = windows(path.read_text(encoding="utf-8"))
        for k in pick(len(wins), MAX_PER_FILE):
            rows.append({"id": f"{path.stem}-{k}", "text": wins[k], "source": path.name})
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refresh", action="store_true", help="re-copy the public texts and re-generate the novel ones")
    args = ap.parse_args(argv)
    if args.refresh:
        refresh()
    for pool, out in ((PUBLIC, HERE / "public_windows.jsonl"), (NOVEL, HERE / "novel_windows.jsonl")):
        rows = build(pool, out)
        words = [len(r["text"].split()) for r in rows]
        per_file: dict[str, int] = {}
        for r in rows:
            per_file[r["source"]] = per_file.get(r["source"], 0) + 1
        print(
            f"{out.relative_to(ROOT)}: {len(rows)} windows, {min(words)}-{max(words)} words "
            f"(mean {sum(words) / len(words):.0f}); " + ", ".join(f"{k} {v}" for k, v in per_file.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
