"""A redacted report names no folder of the machine that made the run, wherever the path comes from.

:func:`scrub_paths` alone finds a path by its look (absolute, ``./``, a data suffix, or a folder that exists
where the report is made), so a relative checkpoint folder (``ckpts/run-7/model``) reported from another
directory slipped through, and so did every string that merely contains one: a records label that
defaulted to the model's path, a plot's title, a card's line. Here the run tells which of its strings are
paths (:func:`run_paths`): the config entries its manifest fingerprints as inputs (``identity`` keys such as
``mia.members``), the entries under path keys (``model``, ``data``, ``out``, ...), the checkpoint's source
and resolved folder (unless it came from the hub), and the run folder itself. :class:`PathScrub` replaces
each of them wherever it occurs, then applies :func:`scrub_paths`; :func:`scrub_document` runs it over
every string of a built document and :func:`shareable_views` renames checkpoints labelled by a path to the
path's last component, so plots (their titles and file names) are drawn without it too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path, PurePath
from typing import Any

from auditor.report.records import View
from auditor.report.redact import is_local_path, path_tag, scrub_paths

# config keys whose values name files or folders (besides those the manifest's identity fingerprints)
PATH_KEYS = frozenset(
    {"model", "reference_model", "members", "nonmembers", "data", "canaries", "candidates", "corpus"}
    | {"calibration", "path", "lab", "out", "cache_dir", "forget", "retain", "holdout", "forget_qa", "retain_qa"}
    | {"source", "resolved", "files", "config"}
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name: a hub id unless the run loaded it locally
_SEP = re.compile(r"[\\/]")
_ODD = re.compile(r'[<>"|?*]')  # not in a path a user would type (a tag, say), unless the run loaded it


def _walk(value: Any, key: str, prefix: str) -> Iterable[tuple[str, str, str]]:
    """``(dotted key, last key, string)`` of every string in a JSON-like value."""
    if isinstance(value, str):
        yield prefix, key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k), f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v, key, prefix)


def _loaded_locally(manifest: dict) -> set[str]:
    """The source and resolved folder of every checkpoint the manifest describes that did not come from the hub."""
    out: set[str] = set()
    for block in (manifest.get("checkpoint"), manifest.get("reference")):
        if isinstance(block, dict) and not str(block.get("fingerprint") or "").startswith("hub:"):
            named = (str(block[k]) for k in ("source", "resolved") if block.get(k))
            out.update(p for p in named if is_local_path(p) or not _HUB_ID.match(p))  # org/name: a hub id
    return out


def run_paths(run: Path, manifests: Iterable[dict]) -> set[str]:
    """Every local path that the run's manifests name (config inputs, checkpoints, output folder), and the run's."""
    found = {str(run), str(run.resolve())}
    for m in manifests:
        local = _loaded_locally(m)
        found |= local
        inputs = {k.removeprefix("config.") for k in m.get("identity") or {} if not k.startswith("checkpoint.")}
        for dotted, key, s in _walk(m.get("config") or {}, "", ""):
            if "\n" in s or not _SEP.search(s):
                continue
            named = key in PATH_KEYS and not _ODD.search(s) and not _HUB_ID.match(s)
            if is_local_path(s) or dotted in inputs or s in local or named:
                found.add(s)
    return {p.rstrip("/\\") for p in found if p.rstrip("/\\") and p not in ("/", ".")}


@dataclass(frozen=True)
class PathScrub:
    """Replaces the run's known paths (longest first), then any other string that looks like a local path."""

    known: tuple[str, ...] = ()

    @classmethod
    def of(cls, paths: Iterable[str]) -> PathScrub:
        return cls(tuple(sorted(set(paths), key=len, reverse=True)))

    def text(self, s: str) -> str:
        for p in self.known:
            if p in s:
                s = s.replace(p, path_tag(p))
        return scrub_paths(s)

    def value(self, v: Any) -> Any:
        """A JSON-like value with every path replaced, in keys as in values."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        return v

    def is_path(self, s: str) -> bool:
        return s.rstrip("/\\") in self.known or is_local_path(s)


def scrub_document(node: Any, scrub: PathScrub) -> Any:
    """Every string of a document (its title, sections, blocks, table cells, cards, ...) scrubbed, in place."""
    if isinstance(node, str):
        return scrub.text(node)
    if isinstance(node, list):
        node[:] = [scrub_document(x, scrub) for x in node]
        return node
    if isinstance(node, tuple):
        return tuple(scrub_document(x, scrub) for x in node)
    if is_dataclass(node) and not isinstance(node, type) and not node.__dataclass_params__.frozen:
        for f in fields(node):
            if f.name in ("path", "rel"):  # an image's file and link: the report's own plots/, kept
                continue
            v = getattr(node, f.name)
            if isinstance(v, str | list | tuple) or (is_dataclass(v) and not isinstance(v, type)):
                new = scrub_document(v, scrub)
                if new is not v:
                    setattr(node, f.name, new)
    return node


def _short_names(paths: list[str]) -> dict[str, str]:
    """Each path's last component; where two share one, the component and a hash of the whole path."""
    names = {p: PurePath(p.rstrip("/\\")).name or "model" for p in paths}
    counts = {n: list(names.values()).count(n) for n in names.values()}
    return {p: n if counts[n] == 1 else f"{n}#{hashlib.sha256(p.encode()).hexdigest()[:8]}" for p, n in names.items()}


def shareable_views(
    found: list[View], primary: str, baseline: str | None, scrub: PathScrub, name_of: Any
) -> tuple[list[View], str, str | None]:
    """The views with every label and checkpoint name (``name_of(view)``) that is a path cut to its last
    component, so tables, plot titles and plot file names show no folder."""
    labels = [v.label for v in found if scrub.is_path(v.label)]
    names = {str(name_of(v)) for v in found}
    short = _short_names(sorted(set(labels) | {n for n in names if scrub.is_path(n)}))
    out = [replace(v, label=short.get(v.label, v.label), name=short.get(str(name_of(v)))) for v in found]
    return out, short.get(primary, primary), short.get(baseline, baseline) if baseline else None
