"""``auditor unlearn-compare``: audit unlearned checkpoints against the base and a retrained oracle.

Checkpoints x families through the one loop (:mod:`auditor.pipeline.loop`): at each checkpoint's dense
point the ``unlearning`` family (MUSE / TOFU measurements, :mod:`auditor.unlearning.measures`) and, with
``lab:``, the capability families as utility; the resurfacing check is a pruning sweep of every
checkpoint (``resurfacing_methods`` x ``resurfacing_sparsities``, any pruning method) running the
``unlearning`` family, which at a pruned point measures forget-set VerbMem and KnowMem. All records go to
one run directory, tagged with each checkpoint's label.

Derived at the end from the records and samples (``unlearning.json``), against the ``retrain`` checkpoint:
PrivLeak as MUSE defines it (:func:`auditor.stats.metrics.privleak`, percent, 0 = the retrain model) and TOFU's
forget quality (:func:`auditor.store.record_tree.forget_quality`, the KS-test p-value between the truth ratios of
the checkpoint and of the retrain model); against the base: the onion check (Carlini et al. 2022, "The privacy onion
effect"): a retain text became more exposed when its MIA percentile among the holdout scores rose by more
than ``onion_margin`` from the base model, or its VerbMem ROUGE-L did.

Per-instance unlearning difficulty (Baluta et al. 2024; Sepahvand et al. 2025): each built-in gradient
method's training is tracked every ``difficulty_every`` steps (:mod:`auditor.unlearning.difficulty_tracker`),
per forget example records go to ``records.jsonl`` (:mod:`auditor.unlearning.difficulty_records`), and the
table binned by repeats and EL2N tercile is written as ``unlearning_difficulty.md`` / ``.json``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import auditor.models.parallel as parallel
from auditor.capability.builders import CapabilityConfig
from auditor.config import build, load_config
from auditor.errors import ConfigError, InputError
from auditor.family import DENSE
from auditor.inputs.data import load_texts, read_rows
from auditor.models.load import LoadedModel, ModelSpec, load_model
from auditor.pipeline.loop import Pruners, close_data, plan, prepare_families, run_points
from auditor.pipeline.runid import run_identity
from auditor.pipeline.sections import CalibrationConfig, Sections, calibration_loader, resolve_lab
from auditor.pruning import PRUNERS
from auditor.report.summary import write_summary
from auditor.report.unlearning import write_difficulty_files
from auditor.stats.metrics import onion_counts, percentiles, privleak
from auditor.store.record_tree import unlearning_tree
from auditor.store.runs import RunDir, atomic_write_json, log_rows
from auditor.unlearning import UnlearnConfig, unlearn_checkpoint
from auditor.unlearning.difficulty import DifficultySettings
from auditor.unlearning.difficulty_records import DifficultyPlan, finish, make_plan, measure_references, tracked
from auditor.unlearning.difficulty_tracker import DifficultyTracker
from auditor.unlearning.measures import UnlearningSection, check_disjoint

log = logging.getLogger(__name__)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
UTILITY = ("fact_recall", "open_book", "overriding", "icl_classification")

__all__ = ["UnlearnCompareConfig", "Unlearned", "check_disjoint", "onion", "run_compare", "summarize"]


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
    # QA pairs about the forget set: {"id", "prompt", "answer"[, "paraphrased_answer", "perturbed_answer"]}
    forget_qa: str | None = None
    retain_qa: str | None = None  # QA pairs about the retain set (TOFU's model utility reads them)
    lab: str | None = None  # a lab folder ('standard' = shipped): capability families as utility
    mia_attack: str = "min_k@0.4"
    prefix_len: int = 12  # VerbMem: tokens of each forget text given as the prompt
    suffix_len: int = 16  # VerbMem: tokens generated and compared
    knowmem_max_new_tokens: int = 32  # KnowMem: tokens generated per answer (MUSE: 32)
    onion_margin: float = 0.1
    difficulty_every: int = 1  # per-instance difficulty: measure each gradient method every N steps (0: off)
    difficulty_model: str | None = None  # LM-EL2N scored with this checkpoint (same tokenizer); None: the base
    resurfacing_methods: tuple[str, ...] = ("magnitude",)  # any pruning method; wanda/sparsegpt calibrate
    resurfacing_sparsities: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    text_column: str = "text"
    id_column: str = "id"
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    attn_implementation: str | None = None  # from_pretrained's attn_implementation
    model_args: str | None = None  # more from_pretrained options "key=value,...", incl. peft=ADAPTER
    offload: bool = False  # accelerate big-model inference (weights beyond the GPU in CPU memory)
    trust_remote_code: bool = False
    allow_pickle: bool = False  # allow .bin (pickle) weights in every checkpoint compared
    seed: int = 0

    def spec(self, model: str) -> ModelSpec:
        return ModelSpec(model, device=self.device, dtype=self.dtype, trust_remote_code=self.trust_remote_code,
                         allow_pickle=self.allow_pickle, attn_implementation=self.attn_implementation,
                         offload=self.offload, model_args=self.model_args)  # fmt: skip

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
        for m in self.resurfacing_methods:
            PRUNERS.get(m)
        if self.difficulty_every < 0:
            raise ConfigError(f"difficulty_every: must be >= 0 (0 turns tracking off), got {self.difficulty_every}")

    def sections(self) -> Sections:
        keys = ("forget", "retain", "holdout", "forget_qa", "retain_qa", "mia_attack", "prefix_len", "suffix_len",
                "knowmem_max_new_tokens", "text_column", "id_column")  # fmt: skip
        u = UnlearningSection(**{k: getattr(self, k) for k in keys})
        return Sections(unlearning=u, capability=CapabilityConfig(source="lab"), calibration=self.calibration)

    def families(self) -> list[str]:
        return ["unlearning", *(UTILITY if self.lab else ())]


def load_compare_config(path: str | None, overrides: list[str]) -> UnlearnCompareConfig:
    return load_config(UnlearnCompareConfig, path, overrides)


def check_same_tokenizer(base_vocab: dict, other: LoadedModel, label: str) -> None:
    if base_vocab != other.tokenizer.get_vocab():
        raise InputError(
            f"checkpoint {label!r} has a different tokenizer from the base model; unlearning comparisons "
            "score the same token sequences, so every checkpoint must share the base tokenizer"
        )


def difficulty_plan(cfg: UnlearnCompareConfig) -> DifficultyPlan | None:
    """What per-instance difficulty tracks in this run (None: no gradient method, or difficulty_every = 0)."""
    methods = tracked(cfg.methods, cfg.difficulty_every)
    if not methods:
        return None
    settings = DifficultySettings(cfg.difficulty_every, cfg.prefix_len, cfg.suffix_len, cfg.batch_size)
    forget = load_texts(cfg.forget, cfg.text_column, cfg.id_column)
    return make_plan(methods, settings, forget, read_rows(cfg.forget), has_retrain=cfg.retrain is not None,
                     difficulty_model=cfg.difficulty_model)  # fmt: skip


def _checkpoints(cfg: UnlearnCompareConfig, out: Path, tracking: DifficultyPlan | None) -> list[tuple[str, str]]:
    """(label, model) in order: base, retrain, the given unlearned checkpoints, then built-in methods
    (each run on the base first, once; its checkpoint is kept under RUN/unlearned/<method>, with the
    difficulty tracker's trajectory beside it for the methods ``tracking`` tracks)."""
    refs = [("base", cfg.base)]
    if cfg.retrain:
        refs.append(("retrain", cfg.retrain))
    refs += [(u.label, u.model) for u in cfg.unlearned]
    for method in cfg.methods:
        folder = out / "unlearned" / method
        # data parallel: the main process decides, trains and saves; the others wait, then load its checkpoint
        if parallel.gather_objects(not (folder / "unlearning.json").exists())[0]:
            log.info("unlearning with %s", method)
            if parallel.is_main():
                tracker = DifficultyTracker(tracking.settings) if tracking and method in tracking.methods else None
                unlearn_checkpoint(cfg.spec(cfg.base), method, cfg.forget, cfg.retain, folder,
                                   build(UnlearnConfig, cfg.method_config), text_column=cfg.text_column,
                                   id_column=cfg.id_column, observer=tracker)  # fmt: skip
            parallel.barrier()
        refs.append((method, str(folder)))
    return refs


def run_compare(cfg: UnlearnCompareConfig, overwrite: bool = False) -> Path:
    """Run (or resume) the comparison; writes records, samples and ``unlearning.json``; returns the run dir."""
    lab = resolve_lab(cfg.lab)
    data = prepare_families(cfg.families(), cfg.sections(), lab)  # forget/retain overlap fails here
    config = asdict(cfg)
    specs = {"base": cfg.spec(cfg.base)} | ({"retrain": cfg.spec(cfg.retrain)} if cfg.retrain else {})
    specs |= {u.label: cfg.spec(u.model) for u in cfg.unlearned}
    specs |= {"difficulty_model": cfg.spec(cfg.difficulty_model)} if cfg.difficulty_model else {}
    identity, sources = run_identity(config, specs, lab)
    run = RunDir(cfg.out, config, overwrite=overwrite, extra_manifest={"kind": "unlearn-compare"},
                 identity=identity, sources=sources)  # fmt: skip
    tracking = difficulty_plan(cfg)
    refs = _checkpoints(cfg, run.path, tracking)
    steps = plan(cfg.families(), cfg.resurfacing_methods, cfg.resurfacing_sparsities, ["unlearning"])
    base_vocab = None
    try:
        for label, model in refs:
            if run.done(f"checkpoint/{label}"):
                continue
            lm = load_model(cfg.spec(model))
            if base_vocab is None:
                base_vocab = lm.tokenizer.get_vocab()
            else:
                check_same_tokenizer(base_vocab, lm, label)
            pruners = Pruners(lm, lambda lm=lm: calibration_loader(cfg.calibration, lab, lm))
            run_points(lm, run, label, steps, data, pruners, batch_size=cfg.batch_size, seed=cfg.seed)
            if tracking:
                measure_references(run, tracking, lm, label, cfg.batch_size)
            run.write(f"checkpoint/{label}", [])
            del lm
    finally:
        close_data(data)
    if tracking:
        _difficulty(cfg, run, tracking, dict(refs), base_vocab)
    result = comparison(run, [lb for lb, _ in refs], cfg)
    result["models"] = dict(refs)
    atomic_write_json(run.path / "unlearning.json", result)
    write_difficulty_files(run.path)
    write_summary(run.path, command="unlearn-compare")
    return run.path


def _difficulty(
    cfg: UnlearnCompareConfig, run: RunDir, tracking: DifficultyPlan, models: dict[str, str], vocab: dict | None
) -> None:
    """The difficulty units not yet written; a reference checkpoint not loaded in the loop (the
    ``difficulty_model``, or any on a resumed run) is loaded here, its tokenizer checked against the base's."""
    models = models | ({"difficulty_model": cfg.difficulty_model} if cfg.difficulty_model else {})

    def load(label: str) -> LoadedModel:
        lm = load_model(cfg.spec(models[label]))
        base = vocab if vocab is not None or label == "base" else load_model(cfg.spec(cfg.base)).tokenizer.get_vocab()
        if base is not None:
            check_same_tokenizer(base, lm, label)
        return lm

    finish(run, tracking, load, {m: run.path / "unlearned" / m for m in tracking.methods}, cfg.batch_size)


def _per_text(rows: list[dict], label: str) -> dict:
    """``retain_percentiles`` (MIA score among holdout scores) and ``retain_verbatim`` of one checkpoint."""
    mine = [r for r in rows if r.get("checkpoint") == label and r.get("method") == DENSE]
    get = lambda kind, s: [r["value"] for r in mine if r["kind"] == kind and r["set"] == s]  # noqa: E731
    hold = np.asarray(get("mia", "holdout"), dtype=float)
    return {"retain_percentiles": _percentiles(np.asarray(get("mia", "retain"), dtype=float), hold).tolist(),
            "retain_verbatim": get("verbatim", "retain")}  # fmt: skip


def comparison(run: RunDir, labels: list[str], cfg: UnlearnCompareConfig) -> dict:
    """The comparison table (``summarize``) and resurfacing curves, from the run's records and samples."""
    records = run.all_records()
    samples = log_rows(run.path / "samples" / "unlearning.jsonl")
    table = unlearning_tree([r for r in records if r["method"] == DENSE])  # the report's reading of the records
    per = {lb: {**table.get(lb, {}), **_per_text(samples, lb)} for lb in labels}
    resurf: dict[str, dict] = {}
    for r in records:
        if r["family"] == "unlearning" and r["method"] != DENSE:
            pts = resurf.setdefault(r["checkpoint"], {}).setdefault(f"{r['method']}@{r['requested_sparsity']:g}", {})
            pts[r["task"]] = r["value"]
            pts["actual_sparsity"] = r["sparsity"]
    return {
        "attack": cfg.mia_attack,
        "retrain": "retrain" if cfg.retrain else None,
        "privleak_note": None if cfg.retrain else "no retrain model: PrivLeak and forget quality need one",
        "checkpoints": summarize(per, has_retrain=cfg.retrain is not None, margin=cfg.onion_margin),
        "resurfacing": resurf,
    }


def _percentiles(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return percentiles(scores, reference)


def onion(base: dict, after: dict, margin: float) -> dict:
    """How many retain texts became more exposed after unlearning (MIA percentile or verbatim similarity)."""
    keys = ("retain_percentiles", "retain_verbatim")
    return onion_counts(base[keys[0]], after[keys[0]], base[keys[1]], after[keys[1]], margin)


def summarize(per: dict[str, dict], *, has_retrain: bool, margin: float) -> dict[str, dict]:
    """The comparison table: headline figures (forget quality from the tree), PrivLeak against the retrain
    model, onion against the base."""
    ref_auc = per["retrain"]["forget_auc"] if has_retrain else None
    table = {}
    for label, m in per.items():
        row = {k: v for k, v in m.items() if not isinstance(v, list)}
        row["privleak"] = privleak(m["forget_auc"], ref_auc)
        if label != "base":
            row["onion"] = onion(per["base"], m, margin)
        table[label] = row
    return table
