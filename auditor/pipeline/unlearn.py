"""``auditor unlearn-compare``: audit unlearned checkpoints against the base and a retrained oracle.

Checkpoints x families through the one loop (:mod:`auditor.pipeline.loop`): at each checkpoint's dense
point the ``unlearning`` family (MUSE / TOFU measurements, :mod:`auditor.unlearning.measures`) and, with
``lab:``, the capability families as utility; the resurfacing check is a pruning sweep of every
checkpoint (``resurfacing_methods`` x ``resurfacing_sparsities``, any pruning method) running the
``unlearning`` family, which at a pruned point measures forget-set VerbMem and KnowMem. All records go to
one run directory, tagged with each checkpoint's label.

Derived at the end from the records and samples (``unlearning.json``), against the ``retrain`` checkpoint:
PrivLeak as MUSE defines it (:func:`auditor.unlearning.compare.privleak`, percent, 0 = the retrain model) and TOFU's
forget quality (:func:`auditor.unlearning.figures.forget_quality`, the KS-test p-value between the truth ratios of
the checkpoint and of the retrain model); against the base: the onion check (Carlini et al. 2022, "The privacy onion
effect"): a retain text became more exposed when its MIA percentile among the holdout scores rose by more
than ``onion_margin`` from the base model, or its VerbMem ROUGE-L did. The math is
:mod:`auditor.unlearning.compare`, which the report renders from too; the configuration is
:mod:`auditor.pipeline.unlearn_config`.

Per-instance unlearning difficulty (Baluta et al. 2024; Sepahvand et al. 2025): each built-in gradient
method's training is tracked every ``difficulty_every`` steps (:mod:`auditor.unlearning.difficulty_tracker`),
per forget example records go to ``records.jsonl`` (:mod:`auditor.unlearning.difficulty_records`), and the
table binned by repeats and EL2N tercile is written as ``unlearning_difficulty.md`` / ``.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import auditor.store.parallel as parallel
from auditor.config import build
from auditor.errors import InputError
from auditor.family import DENSE
from auditor.inputs.data import load_texts, read_rows
from auditor.models.load import LoadedModel, load_model
from auditor.pipeline.loop import Pruners, close_data, plan, prepare_families, run_points
from auditor.pipeline.runid import run_identity
from auditor.pipeline.sections import calibration_loader, resolve_lab
from auditor.pipeline.unlearn_config import UnlearnCompareConfig, Unlearned, load_compare_config
from auditor.report.difficulty import write_difficulty_files
from auditor.report.summary import write_summary
from auditor.store.identity import path_digest
from auditor.store.runs import RunDir, atomic_write_json, config_hash, holds_measurements, log_rows
from auditor.unlearning import UnlearnConfig, unlearn_checkpoint
from auditor.unlearning.compare import onion_table, resurfacing, summarize
from auditor.unlearning.difficulty import DifficultySettings
from auditor.unlearning.difficulty_records import DifficultyPlan, finish, make_plan, measure_references, tracked
from auditor.unlearning.difficulty_tracker import DifficultyTracker
from auditor.unlearning.figures import unlearning_tree
from auditor.unlearning.measures import check_disjoint

log = logging.getLogger(__name__)

__all__ = [
    "UnlearnCompareConfig",
    "Unlearned",
    "check_disjoint",
    "check_same_tokenizer",
    "comparison",
    "difficulty_plan",
    "load_compare_config",
    "run_compare",
]


def check_same_tokenizer(base_vocab: dict, other: LoadedModel, label: str) -> None:
    """Refuse a checkpoint whose tokenizer differs from the base's (every comparison scores the same tokens)."""
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
    return make_plan(
        methods,
        settings,
        forget,
        read_rows(cfg.forget),
        has_retrain=cfg.retrain is not None,
        difficulty_model=cfg.difficulty_model,
    )


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
        recipe = _recipe(cfg, method)
        # data parallel: the main process decides, trains and saves; the others wait, then load its checkpoint
        if parallel.gather_objects(_needs_unlearning(folder, recipe))[0]:
            log.info("unlearning with %s", method)
            if parallel.is_main():
                tracker = DifficultyTracker(tracking.settings) if tracking and method in tracking.methods else None
                unlearn_checkpoint(
                    cfg.spec(cfg.base),
                    method,
                    cfg.forget,
                    cfg.retain,
                    folder,
                    build(UnlearnConfig, cfg.method_config),
                    text_column=cfg.text_column,
                    id_column=cfg.id_column,
                    overwrite=folder.exists(),  # a checkpoint of another recipe, left by a run that recorded nothing
                    observer=tracker,
                )
                atomic_write_json(_recipe_file(folder), {"recipe": recipe})
            parallel.barrier()
        refs.append((method, str(folder)))
    return refs


def _recipe(cfg: UnlearnCompareConfig, method: str) -> str:
    """What a built-in method's checkpoint depends on: the method, its settings, and the base model's and the
    forget and retain sets' content (a run that failed before its first record binds no identity, so a
    checkpoint it left must not be reused by a command with other settings)."""
    parts = {
        "method": method,
        "config": asdict(build(UnlearnConfig, cfg.method_config)),
        "columns": [cfg.text_column, cfg.id_column],
        **{k: path_digest(str(v)) or str(v) for k, v in (("base", cfg.base), ("forget", cfg.forget))},
        "retain": path_digest(str(cfg.retain)) if cfg.retain else None,
    }
    return config_hash(parts)


def _recipe_file(folder: Path) -> Path:
    return folder.parent / f"{folder.name}.recipe.json"


def _needs_unlearning(folder: Path, recipe: str) -> bool:
    """Whether the method must run: no complete checkpoint, or one made with another recipe (said once)."""
    if not (folder / "unlearning.json").exists():
        return True
    try:
        kept = json.loads(_recipe_file(folder).read_text(encoding="utf-8")).get("recipe")
    except (OSError, ValueError, AttributeError):
        kept = None
    if kept is None and holds_measurements(folder.parent.parent):  # an older run's: its identity vouches for it
        atomic_write_json(_recipe_file(folder), {"recipe": recipe})
        return False
    if kept != recipe:
        log.warning("%s was made with other settings or inputs; unlearning again", folder)
        return True
    return False


def run_compare(cfg: UnlearnCompareConfig, overwrite: bool = False) -> Path:
    """Run (or resume) the comparison; writes records, samples and ``unlearning.json``; returns the run dir."""
    lab = resolve_lab(cfg.lab)
    data = prepare_families(cfg.families(), cfg.sections(), lab)  # forget/retain overlap fails here
    config = asdict(cfg)
    specs = {"base": cfg.spec(cfg.base)} | ({"retrain": cfg.spec(cfg.retrain)} if cfg.retrain else {})
    specs |= {u.label: cfg.spec(u.model) for u in cfg.unlearned}
    specs |= {"difficulty_model": cfg.spec(cfg.difficulty_model)} if cfg.difficulty_model else {}
    identity, sources = run_identity(config, specs, lab)
    run = RunDir(
        cfg.out,
        config,
        overwrite=overwrite,
        extra_manifest={"kind": "unlearn-compare"},
        identity=identity,
        sources=sources,
    )
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


def comparison(run: RunDir, labels: list[str], cfg: UnlearnCompareConfig) -> dict:
    """The comparison table and resurfacing curves (:mod:`auditor.unlearning.compare`) from the run's records
    and samples: each checkpoint's figures as the report reads them (MUSE / TOFU), PrivLeak against the retrain
    model, the onion counts against the base."""
    records = run.all_records()
    samples = log_rows(run.path / "samples" / "unlearning.jsonl")
    tree = unlearning_tree([r for r in records if r["method"] == DENSE])  # the report's reading of the records
    figures = {lb: tree.get(lb, {}) for lb in labels}
    onions = onion_table(samples, labels, cfg.onion_margin)
    return {
        "attack": cfg.mia_attack,
        "retrain": "retrain" if cfg.retrain else None,
        "privleak_note": None if cfg.retrain else "no retrain model: PrivLeak and forget quality need one",
        "checkpoints": summarize(figures, onions, has_retrain=cfg.retrain is not None),
        "resurfacing": resurfacing(records),
    }
