"""Extract the real-text pool of the smollm2 lab: docstrings of Python's standard library.

Run once; its output ``tasks/data/pool/stdlib_docstrings.jsonl`` is committed, so every machine builds the
lab from the same texts whatever its Python version (docstrings change between Python releases)::

    .venv/bin/python tasks/data/pool/extract_stdlib_docstrings.py

Rows: ``{"id": "doc-NNNN", "text", "source": "module.qualname", "tokens"}`` where ``tokens`` is the length in
SmolLM2 tokens (no special tokens). Selection, in order:

1. every public module of ``sys.stdlib_module_names`` and its public submodules that import without side
   effects (a blocklist),
   and in it every public class, function and method *defined there* (``__module__`` matches), with its
   own ``__doc__`` (not inherited), cleaned with ``inspect.cleandoc``;
2. texts of ``MIN_TOKENS``..``MAX_TOKENS`` SmolLM2 tokens;
3. exact duplicates (whitespace-normalized) dropped, then near-duplicates: a text sharing any word
   ``NGRAM``-gram with a text kept before it is dropped (the exact-substring rule of Lee et al. 2022,
   "Deduplicating training data makes language models better", on words rather than tokens), so no
   member has a near-copy among the non-members;
4. sorted by source name, numbered.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
import sys
import warnings
from pathlib import Path

MIN_TOKENS, MAX_TOKENS, NGRAM = 64, 256, 13
OUT = Path(__file__).parent / "stdlib_docstrings.jsonl"
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "ensurepip", "venv",
        "pydoc_data", "test", "xxsubtype", "msvcrt", "winreg", "winsound", "nt", "_msi", "msilib"}  # fmt: skip


def objects(mod: object, name: str) -> list[tuple[str, object]]:
    """(qualified name, object) for the module and its public classes, functions and methods defined in it."""
    out: list[tuple[str, object]] = [(name, mod)]
    for attr, obj in sorted(vars(mod).items()):
        if attr.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isclass(obj):
            out.append((f"{name}.{attr}", obj))
            for m, meth in sorted(vars(obj).items()):
                if not m.startswith("_") and callable(meth):
                    out.append((f"{name}.{attr}.{m}", meth))
        elif callable(obj):
            out.append((f"{name}.{attr}", obj))
    return out


def module_names() -> list[str]:
    """Public top-level stdlib modules and the public submodules of its packages (tests excluded)."""
    names = []
    for top in sorted(sys.stdlib_module_names):
        if top.startswith("_") or top in SKIP:
            continue
        names.append(top)
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.submodule_search_locations:
            continue
        for info in pkgutil.walk_packages(spec.submodule_search_locations, prefix=f"{top}."):
            parts = info.name.split(".")
            if not any(p.startswith("_") or p in ("test", "tests") for p in parts[1:]):
                names.append(info.name)
    return names


def raw_docs() -> dict[str, str]:
    docs: dict[str, str] = {}
    for name in module_names():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except Exception:  # platform modules missing here, broken imports
            continue
        for qual, obj in objects(mod, name):
            doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
            if doc and doc.strip():
                docs.setdefault(qual, inspect.cleandoc(doc))
    return docs


def dedup(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen_text: set[str] = set()
    seen_grams: set[tuple[str, ...]] = set()
    kept = []
    for src, text in rows:
        norm = " ".join(text.split())
        words = re.findall(r"\w+|[^\w\s]", norm.lower())
        grams = {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}
        if norm in seen_text or grams & seen_grams:
            continue
        seen_text.add(norm)
        seen_grams |= grams
        kept.append((src, text))
    return kept


def main() -> None:
    from transformers import AutoTokenizer

    from auditor.models.load import smollm2_folder

    tok = AutoTokenizer.from_pretrained(str(smollm2_folder()))
    docs = raw_docs()
    sized = []
    for src, text in sorted(docs.items()):
        n = len(tok(text, add_special_tokens=False)["input_ids"])
        if MIN_TOKENS <= n <= MAX_TOKENS:
            sized.append((src, text, n))
    kept = dedup([(s, t) for s, t, _ in sized])
    ntok = {s: n for s, _, n in sized}
    with open(OUT, "w", encoding="utf-8") as fh:
        for i, (src, text) in enumerate(kept):
            row = {"id": f"doc-{i:04d}", "text": text, "source": src, "tokens": ntok[src]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(docs)} docstrings, {len(sized)} of {MIN_TOKENS}-{MAX_TOKENS} tokens, {len(kept)} kept -> {OUT}")


if __name__ == "__main__":
    main()
