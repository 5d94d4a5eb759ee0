"""Intermediate checkpoints of a lab's training run, and how often each checkpoint has seen each example.

Biderman et al. 2023 ("Emergent and Predictable Memorization in Large Language Models", NeurIPS 2023)
forecast which sequences the final model memorizes from partially trained checkpoints. A lab built with
``--checkpoints 0.05,0.1,...`` saves the model after those fractions of its optimizer steps, and records,
from the training run's own batch plan, how many times each member / canary (each row of the lab's data
files whose text is a training document) was trained on up to every checkpoint. Layout in the lab folder::

    checkpoints/step-000123/     HF folder (safetensors + tokenizer) + checkpoint.json
                                 {"step", "total_steps", "fraction", "requested_fraction", "lab"}
    checkpoints/index.json       {"total_steps", "checkpoints": [{"name", "path", "step", "fraction"}, ...,
                                  {"name": "final", "path": "model", "step": N, "fraction": 1.0}]}
    checkpoints/seen.jsonl       {"id", "file", "repeats", "seen": [count at each checkpoint of the index]}

``step`` is the number of optimizer steps completed. A document counts as seen in the step that trains on
its last token (with packing a document may straddle two steps). ``repeats`` is the number of the
example's documents in the training corpus; ``seen[-1]`` (the final model) is that times the passes
over the corpus that the run completed. Saving only reads the weights, so training is unchanged.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from auditor.errors import ConfigError
from auditor.inputs.data import write_jsonl
from auditor.lab.pool import canary_text
from auditor.store.atomic import atomic_write_json

log = logging.getLogger(__name__)

FOLDER = "checkpoints"
EXAMPLE = "0.05,0.1,0.25,0.5"


@dataclass(frozen=True)
class CheckpointSpec:
    """Which intermediate checkpoints to save (Biderman et al. 2023): fractions of the training steps."""

    fractions: tuple[float, ...] = ()  # sorted, distinct, each in (0, 1); () saves none


def parse_fractions(text: str | None) -> tuple[float, ...]:
    """``"0.05,0.1"`` -> ``(0.05, 0.1)`` (sorted, duplicates dropped); ``None`` -> ``()``.

    Raises :class:`ConfigError` (one line naming the fix) unless every value is a number in (0, 1).
    """
    if text is None:
        return ()
    parts = [s.strip() for s in text.split(",")]
    bad = ConfigError(
        f"--checkpoints {text!r}: give comma-separated fractions of the training steps, each strictly between "
        f"0 and 1, e.g. --checkpoints {EXAMPLE}"
    )
    try:
        values = [float(s) for s in parts]
    except ValueError:
        raise bad from None
    if not values or not all(0.0 < v < 1.0 for v in values):  # also refuses nan
        raise bad
    return tuple(sorted(set(values)))


def checkpoint_steps(fractions: tuple[float, ...], total: int) -> dict[int, float]:
    """Steps completed at each requested fraction: ``round(f * total)`` kept within 1 .. total - 1 (the final
    model is saved anyway). Fractions landing on one step share it (the smallest is recorded)."""
    out: dict[int, float] = {}
    for f in sorted(fractions):
        step = min(total - 1, max(1, math.floor(f * total + 0.5)))
        if step < 1:
            log.warning("a run of %d step(s) has no intermediate step; checkpoint %s not saved", total, f)
        elif step in out:
            log.warning("checkpoint %s falls on step %d of %d like %s; saved once", f, step, total, out[step])
        else:
            out[step] = f
    return out


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def example_text(row: dict) -> str | None:
    """The training document a data-file row stands for: its ``text``, or a canary's prefix + secret + '.'."""
    if isinstance(row.get("text"), str):
        return row["text"]
    if isinstance(row.get("prefix"), str) and isinstance(row.get("secret"), str):
        return canary_text(row)
    return None


def seen_rows(
    files: dict[str, list[dict]], docs: list[str], step_docs: list[list[int]], bounds: list[int]
) -> list[dict]:
    """One row per data-file row whose text is a training document: ``seen[j]`` counts the steps before
    ``bounds[j]`` (steps completed at checkpoint j) that finished one of its documents (Biderman et al. 2023).

    ``step_docs[s]``: indices into ``docs`` of the documents whose last token step ``s`` trains on, taken
    from the batch plan the run trained on."""
    texts = {t for rows in files.values() for r in rows if (t := example_text(r)) is not None}
    where: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        if d in texts:
            where.setdefault(d, []).append(i)
    wanted = {i for idx in where.values() for i in idx}
    done_at: dict[int, list[int]] = {}
    for s, ds in enumerate(step_docs):
        for i in ds:
            if i in wanted:
                done_at.setdefault(i, []).append(s)
    out = []
    for name, rows in files.items():
        for r in rows:
            idx = where.get(example_text(r) or "")
            if not idx:
                continue
            steps = sorted(s for i in idx for s in done_at.get(i, []))
            seen = [bisect.bisect_left(steps, b) for b in bounds]
            out.append({"id": r["id"], "file": name, "repeats": len(idx), "seen": seen})
    return out


class CheckpointSaver:
    """Saves a model during training at the requested fractions of its steps and writes the index and the
    per-example seen counts afterwards (Biderman et al. 2023). The trainer calls :meth:`plan` with its batch
    plan before the first step and :meth:`after_step` after every optimizer step."""

    def __init__(self, lab_dir: Path, spec: CheckpointSpec, lab: str, tokenizer: PreTrainedTokenizerBase) -> None:
        self.folder = Path(lab_dir) / FOLDER
        self.spec, self.lab, self.tokenizer = spec, lab, tokenizer
        self.total = 0
        self.steps: dict[int, float] = {}
        self.step_docs: list[list[int]] = []

    def plan(self, step_docs: list[list[int]]) -> None:
        """The run's plan: ``step_docs[s]`` are the documents whose last token step ``s`` trains on."""
        self.step_docs = [list(d) for d in step_docs]
        self.total = len(step_docs)
        self.steps = checkpoint_steps(self.spec.fractions, self.total)

    @torch.no_grad()
    def after_step(self, done: int, model: torch.nn.Module) -> None:
        """Save ``model`` if ``done`` (optimizer steps completed) is a checkpoint step; reads weights only."""
        if done not in self.steps:
            return
        path = self.folder / step_name(done)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar inside the training progress
        try:
            model.save_pretrained(path, safe_serialization=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.tokenizer.save_pretrained(path)
        meta = {
            "step": done,
            "total_steps": self.total,
            "fraction": done / self.total,
            "requested_fraction": self.steps[done],
            "lab": self.lab,
        }
        atomic_write_json(path / "checkpoint.json", meta)
        log.info("checkpoint %s saved (%.3f of training)", step_name(done), done / self.total)

    def index(self) -> dict:
        """The content of ``checkpoints/index.json`` (also stored in lab.json): intermediate ones, then the final."""
        rows = [
            {"name": step_name(s), "path": f"{FOLDER}/{step_name(s)}", "step": s, "fraction": s / self.total}
            for s in sorted(self.steps)
        ]
        rows.append({"name": "final", "path": "model", "step": self.total, "fraction": 1.0})
        return {"total_steps": self.total, "checkpoints": rows}

    def finish(self, files: dict[str, list[dict]], docs: list[str]) -> dict:
        """Write ``index.json`` and ``seen.jsonl`` (``docs``: the training corpus the plan indexes); returns
        the index."""
        index = self.index()
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.folder / "index.json", index)
        bounds = [c["step"] for c in index["checkpoints"]]
        write_jsonl(self.folder / "seen.jsonl", seen_rows(files, docs, self.step_docs, bounds))
        return index
