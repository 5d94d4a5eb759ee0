"""The Python API: the CLI's commands as functions that take an already-loaded model and plain data.

    import auditor
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained("my/checkpoint")
    tok = AutoTokenizer.from_pretrained("my/checkpoint")
    res = auditor.mia(model, tok, members=["..."], nonmembers=["..."])          # a dict, nothing on disk
    curve = auditor.sweep(model, tok, families=["mia", "extraction"], methods=["magnitude"],
                          sparsities=[0, 0.2, 0.5], members=[...], nonmembers=[...], texts=[...])
    verdict = auditor.audit(model, tok, {"sweep": {"methods": []}}, members=[...], nonmembers=[...],
                            policy=["mia.loss.auc <= 0.6"])["gate"]["passed"]

Inputs are plain lists of strings (canaries: dicts with prefix, secret, repeats) and results are dicts
(``records``: the same rows as the CLI's records.jsonl). Every function runs through the same loop as the
CLI; with ``out=FOLDER`` it keeps a resumable run directory there (its inputs in ``FOLDER.inputs/``),
without it nothing is kept on disk.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.config import apply_overrides, build
from auditor.inputs.data import TextSet
from auditor.pipeline.audit import AuditConfig, run_audit
from auditor.pipeline.library import loaded, run_extraction, run_mia
from auditor.pipeline.runid import loaded_identity
from auditor.pipeline.sweep import SweepConfig, run_sweep
from auditor.probes.extraction import ExtractionConfig
from auditor.probes.mia.runner import MIAConfig
from auditor.report.figures import collect_figures
from auditor.report.gate import check, gate_summary, parse_rules
from auditor.store.identity import texts_digest
from auditor.store.runs import RunDir, atomic_write_text, log_rows


def _texts(texts: Sequence[str] | TextSet, source: str) -> TextSet:
    if isinstance(texts, TextSet):
        return texts
    return TextSet([str(i) for i in range(len(texts))], list(texts), source)


def _identity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *sets: TextSet) -> dict:
    """What an API run's results depend on: the texts (ids and content), the weights, dtype and device."""
    ident = loaded_identity(loaded(model, tokenizer))
    for i, s in enumerate(sets):
        ident[f"texts.{i}"] = texts_digest([*s.ids, *s.texts])
    return ident


@contextmanager
def _run_folder(out: str | Path | None) -> Iterator[Path]:
    """``out`` given: that run directory (kept, resumable). None: a temporary one, removed afterwards."""
    if out is not None:
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="memaudit-") as tmp:
        yield Path(tmp) / "run"


def _inputs(run: Path, data: dict[str, Sequence[str] | Sequence[dict] | None]) -> dict[str, str]:
    """Plain lists written as JSONL beside the run directory (``RUN.inputs/NAME.jsonl``): config key -> path.
    The same lists give the same files, so a run with ``out`` resumes; texts get ids 0..n-1."""
    folder = run.with_name(run.name + ".inputs")
    paths = {}
    for key, rows in data.items():
        if rows is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key.replace('.', '-')}.jsonl"
        lines = [json.dumps(r if isinstance(r, dict) else {"id": str(i), "text": str(r)}) for i, r in enumerate(rows)]
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        paths[key] = str(path)
    return paths


def _nest(flat: dict[str, str], config: dict | None) -> dict:
    """``{"mia.members": p}`` merged into a copy of ``config`` as ``{"mia": {"members": p}}``."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in (config or {}).items()}
    for key, value in flat.items():
        section, name = key.split(".")
        out.setdefault(section, {})[name] = value
    return out


def _data(
    members: Sequence[str] | None,
    nonmembers: Sequence[str] | None,
    texts: Sequence[str] | None,
    canaries: Sequence[dict] | None,
) -> dict[str, Sequence[str] | Sequence[dict] | None]:
    """The plain lists of :func:`sweep` and :func:`audit` by the config key that names their file."""
    return {
        "mia.members": members,
        "mia.nonmembers": nonmembers,
        "extraction.data": texts,
        "exposure.canaries": canaries,
    }


def _sections_on(config: dict, data: dict) -> dict:
    """Without a lab, an audit section runs when its data was given (or its config section names it)."""
    if config.get("lab"):
        return config
    given = {key.split(".")[0] for key, rows in data.items() if rows is not None}
    for section in ("mia", "extraction", "exposure", "capability"):
        if isinstance(config.get(section), dict) or section not in config:
            sec = config.setdefault(section, {})
            sec.setdefault("enabled", section in given or (section == "capability" and bool(sec)))
    return config


def mia(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: Sequence[str] | TextSet,
    nonmembers: Sequence[str] | TextSet,
    *,
    attacks: Sequence[str] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2"),
    out: str | Path | None = None,
    **options: object,
) -> dict:
    """Membership inference on plain lists of texts; returns ``{attack: {auc, auc_ci, tpr@1%fpr, ...}}``.
    ``out``: keep a resumable run directory there; left out, nothing is kept on disk."""
    cfg = MIAConfig(attacks=tuple(attacks), **options)  # type: ignore[arg-type]
    members, nonmembers = _texts(members, "members"), _texts(nonmembers, "nonmembers")
    with _run_folder(out) as folder:
        ident = _identity(model, tokenizer, members, nonmembers)
        run = RunDir(folder, {"api": "mia", "config": cfg.__dict__}, identity=ident)
        return run_mia(model, tokenizer, members, nonmembers, run, cfg)


def extract(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str] | TextSet,
    *,
    prefix_lens: Sequence[int] = (32,),
    suffix_len: int = 32,
    out: str | Path | None = None,
    **options: object,
) -> dict:
    """Discoverable extraction of plain texts; returns the aggregates (``exact_extraction_rate@K``, ...).
    ``out``: keep a resumable run directory there; left out, nothing is kept on disk."""
    cfg = ExtractionConfig(prefix_lens=tuple(prefix_lens), suffix_len=suffix_len, **options)  # type: ignore[arg-type]
    texts = _texts(texts, "texts")
    with _run_folder(out) as folder:
        run = RunDir(folder, {"api": "extract", "config": cfg.__dict__}, identity=_identity(model, tokenizer, texts))
        return run_extraction(model, tokenizer, texts, run, cfg)


def sweep(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    families: Sequence[str],
    methods: Sequence[str] = ("magnitude", "wanda"),
    sparsities: Sequence[float] = (0.0, 0.2, 0.4, 0.6),
    members: Sequence[str] | None = None,
    nonmembers: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    canaries: Sequence[dict] | None = None,
    out: str | Path | None = None,
    config: dict | None = None,
    overrides: Sequence[str] = (),
    name: str = "model",
) -> dict:
    """A pruning sweep of a loaded model on plain data: ``members``/``nonmembers`` (MIA), ``texts`` (extraction),
    ``canaries`` (rows with prefix, secret and repeats: exposure); other keys as in the sweep YAML (``config``).
    Returns ``{"records": [...], "points": {...}, "out": folder or None}``; ``out`` keeps a resumable run."""
    with _run_folder(out) as folder:
        data = _data(members, nonmembers, texts, canaries)
        base = _nest(_inputs(folder, data), config)
        base |= {
            "model": name,
            "out": str(folder),
            "families": list(families),
            "methods": list(methods),
            "sparsities": list(sparsities),
        }
        cfg = build(SweepConfig, apply_overrides(base, list(overrides)))
        run = run_sweep(cfg, loaded=loaded(model, tokenizer, name))
        points = json.loads((run / "sweep.json").read_text(encoding="utf-8"))["points"]
        kept = str(run) if out is not None else None
        return {"records": log_rows(run / "records.jsonl"), "points": points, "out": kept}


def audit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: dict | None = None,
    *,
    members: Sequence[str] | None = None,
    nonmembers: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
    canaries: Sequence[dict] | None = None,
    policy: Sequence[str] = (),
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    name: str = "candidate",
) -> dict:
    """A release audit of a loaded candidate on plain data (as :func:`sweep`; ``config`` as the audit YAML).
    Returns ``{"figures": {...}, "gate": {...} or None, "records": [...], "out": folder or None}``; with
    ``policy`` (rules such as ``"mia.loss.auc <= 0.6"``) the gate's verdict is in ``gate["passed"]``."""
    with _run_folder(out) as folder:
        data = _data(members, nonmembers, texts, canaries)
        base = {"model": name, **_sections_on(_nest(_inputs(folder, data), config), data), "out": str(folder)}
        cfg = build(AuditConfig, apply_overrides(base, list(overrides)))
        run = run_audit(cfg, loaded=loaded(model, tokenizer, name))
        figures, baseline = collect_figures(run)
        rules = list(policy or cfg.policy)
        gate = gate_summary(check(parse_rules(rules), figures, baseline)) if rules else None
        kept = str(run) if out is not None else None
        return {"figures": figures, "gate": gate, "records": log_rows(run / "records.jsonl"), "out": kept}
