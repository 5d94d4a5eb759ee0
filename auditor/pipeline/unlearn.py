"""``auditor unlearn-compare``: audit unlearned checkpoints against the base and a retrained oracle.

Per checkpoint (MUSE, Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation"; TOFU, Maini et
al. 2024):

* ``verbmem_forget``: verbatim memorization of the forget texts: mean similarity of the greedy
  continuation of each text's first ``prefix_len`` tokens to its true next ``suffix_len`` tokens
  (normalized token edit-distance similarity; MUSE uses ROUGE-L of the continuation);
* ``knowmem_forget`` / ``knowmem_retain``: QA accuracy about the forget / retain sets (greedy answer match);
* ``privleak``: (AUC_unlearned - AUC_retrain) / AUC_retrain, the AUC of an MIA (default Min-K% with
  k = 0.4, as MUSE) separating forget texts from holdout texts; without a retrain model the raw AUC is
  reported and ``privleak`` is left empty;
* utility: ``knowmem_retain``, ``holdout_ppl`` (perplexity of the holdout texts) and, on a lab, the
  capability families (fact recall, open-book and overriding QA, in-context classification);
* the onion check (Carlini et al. 2022, "The privacy onion effect"): each retain text's MIA score is
  turned into a percentile among the holdout scores of the same model; a retain text became more
  exposed when its percentile rose by more than ``onion_margin`` from the base model, or its
  verbatim similarity rose by more than ``onion_margin``;
* the resurfacing check: forget-set VerbMem and KnowMem after magnitude pruning at
  ``resurfacing_sparsities``: does the unlearned knowledge come back under compression?

Every (checkpoint, measurement) is a unit of the run directory; a killed comparison resumes.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from auditor.config import load_config
from auditor.data import TextSet, load_texts, read_rows
from auditor.errors import ConfigError, InputError
from auditor.metrics import auc
from auditor.models import LoadedModel, ModelSpec, load_model
from auditor.runs import Record, RunDir, atomic_write_json

log = logging.getLogger(__name__)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Unlearned:
    """An unlearned checkpoint to compare."""

    label: str
    model: str


@dataclass(frozen=True)
class UnlearnCompareConfig:
    """``auditor unlearn-compare`` configuration (see tasks/configs/unlearn-lab.yaml)."""

    base: str  # the model before unlearning
    forget: str  # texts to forget (jsonl/csv/parquet/txt; id + text)
    retain: str  # texts to keep
    holdout: str  # texts never trained on, same distribution (the MIA's non-members)
    out: str = "reports/unlearn-compare"
    retrain: str | None = None  # the model retrained without the forget set (the oracle)
    unlearned: tuple[Unlearned, ...] = ()
    methods: tuple[str, ...] = ()  # built-in methods to run on base first (auditor unlearn), then compare
    method_config: dict = field(default_factory=dict)  # overrides for every built-in method's config
    forget_qa: str | None = None  # QA pairs about the forget set: {"id", "prompt", "answer"}
    retain_qa: str | None = None  # QA pairs about the retain set
    lab: str | None = None  # a lab folder ('standard' = shipped): capability families as utility
    mia_attack: str = "min_k@0.4"
    prefix_len: int = 12  # VerbMem: tokens of each forget text given as the prompt
    suffix_len: int = 16  # VerbMem: tokens compared
    onion_margin: float = 0.1
    resurfacing_sparsities: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    text_column: str = "text"
    id_column: str = "id"
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        labels = ["base", "retrain"] + [u.label for u in self.unlearned] + list(self.methods)
        for lb in labels:
            if not _LABEL.match(lb):
                raise ConfigError(f"unlearned label {lb!r}: use letters, digits, '_', '-', '.'")
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"duplicate checkpoint label(s) {', '.join(dup)}; labels must be unique")
        if not self.unlearned and not self.methods:
            raise ConfigError("nothing to compare: give unlearned: [{label, model}] and/or methods: [npo, ...]")
        for s in self.resurfacing_sparsities:
            if not 0 <= s < 1:
                raise ConfigError(f"resurfacing_sparsities: {s} is outside [0, 1)")


def load_compare_config(path: str | None, overrides: list[str]) -> UnlearnCompareConfig:
    return load_config(UnlearnCompareConfig, path, overrides)


def check_disjoint(forget: TextSet, retain: TextSet) -> None:
    """Forget and retain must not share ids or texts; the error lists the overlap."""
    if len(forget) == 0:
        raise InputError(f"the forget set {forget.source} is empty; give at least one text to forget")
    ids = sorted(set(forget.ids) & set(retain.ids))
    texts = set(forget.texts) & set(retain.texts)
    both = ids + sorted({i for i, t in zip(retain.ids, retain.texts, strict=True) if t in texts} - set(ids))
    if both:
        shown = ", ".join(both[:20]) + (f" ... ({len(both)} in all)" if len(both) > 20 else "")
        raise InputError(f"forget and retain sets overlap (same id or same text): {shown}; remove them from one")


def check_same_tokenizer(base_vocab: dict, other: LoadedModel, label: str) -> None:
    if base_vocab != other.tokenizer.get_vocab():
        raise InputError(
            f"checkpoint {label!r} has a different tokenizer from the base model; unlearning comparisons "
            "score the same token sequences, so every checkpoint must share the base tokenizer"
        )


@dataclass
class Sets:
    forget: TextSet
    retain: TextSet
    holdout: TextSet
    forget_qa: list[dict]
    retain_qa: list[dict]


def _qa(path: str | None) -> list[dict]:
    if not path:
        return []
    rows = read_rows(path)
    for i, r in enumerate(rows):
        for key in ("prompt", "answer"):
            if not isinstance(r.get(key), str):
                raise InputError(f"{path}: row {i + 1} lacks a string {key!r}; QA rows are {{id, prompt, answer}}")
    return rows


def load_sets(cfg: UnlearnCompareConfig) -> Sets:
    tc, ic = cfg.text_column, cfg.id_column
    forget, retain = load_texts(cfg.forget, tc, ic), load_texts(cfg.retain, tc, ic)
    check_disjoint(forget, retain)
    holdout = load_texts(cfg.holdout, tc, ic)
    return Sets(forget, retain, holdout, _qa(cfg.forget_qa), _qa(cfg.retain_qa))


def _mia_scores(lm: LoadedModel, texts: list[str], cfg: UnlearnCompareConfig) -> np.ndarray:
    from auditor.probes.mia.runner import MIAConfig, expand_attacks, score_texts

    variants = expand_attacks([cfg.mia_attack], False)
    scores, _ = score_texts(lm.model, lm.tokenizer, texts, variants, MIAConfig(batch_size=cfg.batch_size))
    return np.asarray(scores[variants[0][0]], dtype=float)


def _verbatim(lm: LoadedModel, texts: list[str], cfg: UnlearnCompareConfig) -> list[float]:
    """Per-text similarity of the greedy continuation to the true suffix (texts too short score nothing)."""
    from auditor.probes.extraction import extraction_scores

    rows = extraction_scores(lm.model, lm.tokenizer, texts, cfg.prefix_len, cfg.suffix_len, cfg.batch_size)
    return [float(r["similarity"]) if r is not None else math.nan for r in rows]


def _qa_acc(lm: LoadedModel, rows: list[dict], batch_size: int | None) -> float | None:
    from auditor.lm.scoring import greedy_answer_match

    if not rows:
        return None
    hits = greedy_answer_match(
        lm.model, lm.tokenizer, [r["prompt"] for r in rows], [r["answer"] for r in rows], batch_size or 64
    )
    return sum(hits) / len(hits)


def _percentiles(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    ref = np.sort(reference)
    return np.searchsorted(ref, scores, side="right") / max(1, ref.size)


def measure(lm: LoadedModel, sets: Sets, cfg: UnlearnCompareConfig, lab_files: dict | None) -> dict:
    """Every per-checkpoint figure except PrivLeak (which needs the retrain model's AUC)."""
    from auditor.lm.scoring import mean_nll

    forget_s = _mia_scores(lm, sets.forget.texts, cfg)
    hold_s = _mia_scores(lm, sets.holdout.texts, cfg)
    retain_s = _mia_scores(lm, sets.retain.texts, cfg)
    verb_f = _verbatim(lm, sets.forget.texts, cfg)
    verb_r = _verbatim(lm, sets.retain.texts, cfg)
    nll = mean_nll(lm.model, lm.tokenizer, sets.holdout.texts, cfg.batch_size or 32)
    out = {
        "forget_auc": auc(forget_s, hold_s),
        "retain_auc": auc(retain_s, hold_s),
        "verbmem_forget": float(np.nanmean(verb_f)),
        "verbmem_retain": float(np.nanmean(verb_r)),
        "knowmem_forget": _qa_acc(lm, sets.forget_qa, cfg.batch_size),
        "knowmem_retain": _qa_acc(lm, sets.retain_qa, cfg.batch_size),
        "holdout_ppl": float(math.exp(sum(nll) / len(nll))),
        "retain_percentiles": _percentiles(retain_s, hold_s).tolist(),
        "retain_verbatim": verb_r,
    }
    if lab_files is not None:
        from auditor.lab.evaluate import lab_figures

        figs = lab_figures(lm.model, lm.tokenizer, lab_files, batch_size=cfg.batch_size or 64)
        for k in ("fact_recall", "open_book", "overriding", "icl_classification"):
            out[k] = figs[k]
    return out


def resurfacing(lm: LoadedModel, sets: Sets, cfg: UnlearnCompareConfig) -> dict[str, dict]:
    """Forget-set VerbMem and KnowMem after magnitude pruning at each sparsity (weights restored after)."""
    from pruning import PruneSpec
    from pruning.engine import Pruning

    pr = Pruning(lm.model, "magnitude", None, PruneSpec(sparsity=0.0))
    out = {}
    for s in cfg.resurfacing_sparsities:
        with pr.at(PruneSpec(sparsity=s)) as rep:
            out[f"{s:g}"] = {
                "actual_sparsity": rep["overall"],
                "verbmem_forget": float(np.nanmean(_verbatim(lm, sets.forget.texts, cfg))),
                "knowmem_forget": _qa_acc(lm, sets.forget_qa, cfg.batch_size),
            }
    return out


def onion(base: dict, after: dict, margin: float) -> dict:
    """How many retain texts became more exposed after unlearning (MIA percentile or verbatim similarity)."""
    p0, p1 = np.array(base["retain_percentiles"]), np.array(after["retain_percentiles"])
    v0, v1 = np.array(base["retain_verbatim"]), np.array(after["retain_verbatim"])
    mia_up = p1 - p0 > margin
    verb_up = np.nan_to_num(v1 - v0) > margin
    return {
        "n_retain": int(p0.size),
        "more_exposed_mia": int(mia_up.sum()),
        "more_extractable": int(verb_up.sum()),
        "more_exposed_any": int((mia_up | verb_up).sum()),
        "mean_percentile_change": float((p1 - p0).mean()),
    }


METRICS = (
    ("verbmem_forget", "VerbMem on forget (lower = forgotten)"),
    ("knowmem_forget", "KnowMem on forget (lower = forgotten)"),
    ("knowmem_retain", "KnowMem on retain (higher = utility kept)"),
    ("privleak", "PrivLeak (0 = like the retrain model)"),
    ("forget_auc", "forget vs holdout MIA AUC"),
    ("holdout_ppl", "holdout perplexity"),
    ("fact_recall", "lab fact recall"),
    ("icl_classification", "lab in-context classification"),
)


def _checkpoints(cfg: UnlearnCompareConfig, out: Path, sets: Sets) -> list[tuple[str, str]]:
    """(label, model) in order: base, retrain, the given unlearned checkpoints, then built-in methods
    (each run on the base first, once; its checkpoint is kept under RUN/unlearned/<method>)."""
    refs = [("base", cfg.base)]
    if cfg.retrain:
        refs.append(("retrain", cfg.retrain))
    refs += [(u.label, u.model) for u in cfg.unlearned]
    for method in cfg.methods:
        folder = out / "unlearned" / method
        if not (folder / "unlearning.json").exists():
            from auditor.config import build
            from auditor.unlearning import UnlearnConfig, unlearn_checkpoint

            ucfg = build(UnlearnConfig, dict(cfg.method_config))
            log.info("unlearning with %s", method)
            unlearn_checkpoint(
                ModelSpec(cfg.base, device=cfg.device, dtype=cfg.dtype), method, cfg.forget, cfg.retain, folder, ucfg
            )
        refs.append((method, str(folder)))
    return refs


def _plots(table: dict[str, dict], resurf: dict[str, dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(table)
    present = [(k, t) for k, t in METRICS if any(table[lb].get(k) is not None for lb in labels)]
    cols = 3
    rows = math.ceil(len(present) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, present, strict=False):
        vals = [table[lb].get(key) for lb in labels]
        ax.bar(range(len(labels)), [v if v is not None else 0 for v in vals], color="#4477aa")
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(present) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "unlearning_bars.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for lb, pts in resurf.items():
        xs = [0.0] + [float(s) for s in pts]
        for ax, key in zip(axes, ("verbmem_forget", "knowmem_forget"), strict=True):
            ys = [table[lb].get(key)] + [p.get(key) for p in pts.values()]
            if all(y is not None for y in ys):
                ax.plot(xs, ys, marker="o", label=lb)
    for ax, key in zip(axes, ("forget VerbMem", "forget KnowMem"), strict=True):
        ax.set_xlabel("magnitude sparsity")
        ax.set_title(f"resurfacing: {key} after pruning", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "resurfacing.png", dpi=90)
    plt.close(fig)


def run_compare(cfg: UnlearnCompareConfig, overwrite: bool = False) -> Path:
    """Run (or resume) the comparison; writes unlearning.json, plots and records; returns the run dir."""
    from auditor.pipeline.audit import resolve_lab

    sets = load_sets(cfg)
    lab_files = None
    if cfg.lab:
        from auditor.lab.build import load_lab_files

        lab_files = load_lab_files(resolve_lab(cfg.lab))
    run = RunDir(cfg.out, asdict(cfg), overwrite=overwrite, extra_manifest={"kind": "unlearn-compare"})
    refs = _checkpoints(cfg, run.path, sets)
    base_vocab = None
    per: dict[str, dict] = {}
    resurf: dict[str, dict] = {}
    for label, model in refs:
        folder = run.path / "checkpoints"
        folder.mkdir(exist_ok=True)
        mpath, rpath = folder / f"{label}.json", folder / f"{label}.resurfacing.json"
        if run.done(f"measure/{label}") and run.done(f"resurface/{label}"):
            per[label] = _read(mpath)
            resurf[label] = _read(rpath)
            continue
        lm = load_model(ModelSpec(model, device=cfg.device, dtype=cfg.dtype))
        if base_vocab is None:
            base_vocab = lm.tokenizer.get_vocab()
        else:
            check_same_tokenizer(base_vocab, lm, label)
        if not run.done(f"measure/{label}"):
            log.info("[%s] measuring", label)
            atomic_write_json(mpath, measure(lm, sets, cfg, lab_files))
            run.write(f"measure/{label}", [])
        per[label] = _read(mpath)
        if not run.done(f"resurface/{label}"):
            log.info("[%s] resurfacing under magnitude pruning", label)
            atomic_write_json(rpath, resurfacing(lm, sets, cfg))
            run.write(f"resurface/{label}", [])
        resurf[label] = _read(rpath)
        del lm
    table = summarize(per, has_retrain=cfg.retrain is not None, margin=cfg.onion_margin)
    result = {
        "attack": cfg.mia_attack,
        "retrain": "retrain" if cfg.retrain else None,
        "privleak_note": None if cfg.retrain else "no retrain model: PrivLeak needs one; raw forget AUC reported",
        "checkpoints": table,
        "resurfacing": resurf,
        "models": dict(refs),
    }
    atomic_write_json(run.path / "unlearning.json", result)
    if not run.done("unlearning/records"):
        records = [
            Record("unlearning", key, key, float(v), checkpoint=lb)
            for lb, row in table.items()
            for key, v in row.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        run.write("unlearning/records", records)
    _plots(table, resurf, run.path)
    return run.path


def _read(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def summarize(per: dict[str, dict], *, has_retrain: bool, margin: float) -> dict[str, dict]:
    """The comparison table: headline figures, PrivLeak against the retrain model, onion against the base."""
    ref_auc = per["retrain"]["forget_auc"] if has_retrain else None
    table = {}
    for label, m in per.items():
        row = {k: v for k, v in m.items() if not isinstance(v, list)}
        row["privleak"] = (m["forget_auc"] - ref_auc) / ref_auc if ref_auc else None
        if label != "base":
            row["onion"] = onion(per["base"], m, margin)
        table[label] = row
    return table
