"""Run an unlearning method on a loaded model (``unlearn``) or on a checkpoint, saving the result
(``unlearn_checkpoint``: the folder ``auditor unlearn-compare`` and ``load_model`` take)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.outdir as outdir
from auditor.inputs.data import TextSet, load_texts
from auditor.models.load import ModelSpec, load_model, resolve_source
from auditor.store.runs import atomic_write_json, package_versions
from auditor.unlearning.base import UNLEARNERS, StepObserver, UnlearnConfig, check_sets

log = logging.getLogger(__name__)

RESULT_FILE = "unlearning.json"
TRAJECTORY_FILE = "difficulty.json"  # an observer's per-example trajectory, beside the unlearned checkpoint


def unlearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    method: str,
    forget: TextSet,
    retain: TextSet | None = None,
    config: UnlearnConfig | None = None,
    observer: StepObserver | None = None,
) -> dict:
    """Unlearn ``forget`` from ``model`` in place with ``method``; returns its figures.

    ``observer`` watches an iterative method's steps (:class:`~auditor.unlearning.base.StepObserver`); a
    one-shot method (``iterative = False``) is run without it.

    Raises ConfigError for an unknown method (with "did you mean") and InputError for an empty forget
    set, a missing retain set the method needs, or forget and retain sets that share ids or texts.
    The model is left in eval mode with its ``requires_grad`` flags and dtype as they were.
    """
    config = config or UnlearnConfig()
    cls = UNLEARNERS.get(method)
    check_sets(forget, retain, method, cls.needs_retain)
    watch = {"observer": observer} if observer is not None and getattr(cls, "iterative", False) else {}
    figures = cls().run(model, tokenizer, forget, retain, config, **watch)
    if watch:  # the method's own time, and the observer's apart
        spent = observer.seconds  # type: ignore[union-attr]
        figures |= {"seconds": round(max(figures["seconds"] - spent, 0.0), 2), "observer_seconds": round(spent, 2)}
    return {"method": method, **figures}


def unlearn_checkpoint(
    spec: ModelSpec | str,
    method: str,
    forget_path: str | Path,
    retain_path: str | Path | None,
    out_dir: str | Path,
    config: UnlearnConfig | None = None,
    *,
    text_column: str = "text",
    id_column: str | None = "id",
    overwrite: bool = False,
    observer: StepObserver | None = None,
) -> dict:
    """Load ``spec``, unlearn the forget file's texts, and save the model (safetensors), its tokenizer and
    ``unlearning.json`` (method, config, figures, sets, source fingerprint) to ``out_dir``; returns that dict.
    With an ``observer`` (iterative methods), its trajectory is saved as ``difficulty.json`` in the same folder,
    which appears only once complete, so a crash mid-method leaves neither.

    Inputs and ``out_dir`` are checked before the model is loaded (``out_dir`` must be new, empty, or with
    ``overwrite`` a checkpoint memaudit wrote); the folder appears only once complete.
    """
    config = config or UnlearnConfig()
    spec = ModelSpec(source=spec) if isinstance(spec, str) else spec
    cls = UNLEARNERS.get(method)
    forget = load_texts(forget_path, text_column, id_column)
    retain = load_texts(retain_path, text_column, id_column) if retain_path else None
    check_sets(forget, retain, method, cls.needs_retain)
    src = resolve_source(spec)
    out = outdir.check(out_dir, "checkpoint", resume=False, overwrite=overwrite, sources=[] if src.hub else [src.path])
    with outdir.staged(out, "checkpoint") as tmp:
        info = _unlearn_and_save(spec, method, forget, retain, forget_path, retain_path, tmp, config, observer)
    log.info("unlearned %s with %s in %.1fs; saved to %s", spec.source, method, info["figures"]["seconds"], out)
    return info


def _unlearn_and_save(
    spec: ModelSpec,
    method: str,
    forget: TextSet,
    retain: TextSet | None,
    forget_path: str | Path,
    retain_path: str | Path | None,
    folder: Path,
    config: UnlearnConfig,
    observer: StepObserver | None = None,
) -> dict:
    lm = load_model(spec)
    figures = unlearn(lm.model, lm.tokenizer, method, forget, retain, config, observer)
    info = {
        "method": method,
        "config": asdict(config),
        "figures": figures,
        "source": {"model": spec.source, "resolved": lm.resolved, "fingerprint": lm.fingerprint},
        "notes": lm.notes,
        "forget": {"path": str(forget_path), "n": len(forget)},
        "retain": {"path": str(retain_path) if retain_path else None, "n": len(retain) if retain else 0},
        "versions": package_versions(),
    }
    recipe = {"method": method, "source": spec.source, "source_fingerprint": lm.fingerprint}
    lm.model.config.memaudit_unlearning = recipe  # also in config.json, as pruned checkpoints carry theirs
    lm.model.save_pretrained(folder, safe_serialization=True)
    lm.tokenizer.save_pretrained(folder)
    if observer is not None and getattr(UNLEARNERS.get(method), "iterative", False):
        atomic_write_json(folder / TRAJECTORY_FILE, observer.trajectory())
    atomic_write_json(folder / RESULT_FILE, info)
    return info
