"""The pruning sweep: points x families on one checkpoint, through the one loop (:mod:`auditor.pipeline.loop`).

The model is loaded once. The dense model (sparsity 0) is always the first point, measured once under
method ``dense``; then for each method and sparsity the model is pruned in memory, every family runs,
records are written and the weights restored. Any registered family runs at every point: ``mia``,
``extraction``, ``exposure``, ``untargeted``, ``fact_recall``, ``open_book``, ``overriding``,
``icl_classification``, ``lm_eval:<task>``, ``lab``. Data come from the sections (``mia.members``,
``extraction.data``, ``exposure.canaries``, ``untargeted.corpus``, ``capability``), defaulting to the
lab's files when ``lab:`` is set. A killed sweep resumes at the first unit not yet recorded.

Summaries rebuilt from the records at the end: ``sweep.json`` (every measured point) and, with
capability families, ``capability.json`` and ``curves.png`` (Jin et al. 2024's thresholds).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from auditor.capability.analysis import write_capability
from auditor.capability.runner import is_capability_family
from auditor.capability.schema import FAMILIES as CAPABILITY_FAMILIES
from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.families import FAMILIES
from auditor.models.load import LoadedModel, ModelSpec, load_model, load_tokenizer
from auditor.models.options import ModelOptions
from auditor.pipeline.loop import (
    Pruners,
    check_families,
    close_data,
    plan,
    points_summary,
    prepare_families,
    pruning_methods,
    run_points,
)
from auditor.pipeline.runid import resolve_checkpoints, run_identity
from auditor.pipeline.sections import (
    Sections,
    calibration_for,
    check_pruning,
    needs_calibration,
    resolve_lab,
    source_notes,
    with_limit,
)
from auditor.report.summary import write_summary
from auditor.store.runs import RunDir, atomic_write_json, discard_on_error

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SweepConfig(Sections, ModelOptions):
    """A sweep over methods and sparsities. Keys mirror ``auditor sweep`` flags; the model keys (device, dtype,
    batch_size, revision, ... at the top level) are :class:`ModelOptions`'."""

    model: str  # checkpoint (folder, hub id, .gguf, lab, smollm2-135m)
    out: str = "reports/sweep"  # run directory (resumed if it exists)
    methods: tuple[str, ...] = ("magnitude", "wanda")
    sparsities: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    structure: str = "unstructured"  # or "N:M", e.g. "2:4" (then sparsity is 1 - N/M)
    granularity: str | None = None  # layer | row | global; default: the method's own
    families: tuple[str, ...] = ("mia", "lab")
    lab: str | None = None  # lab folder or 'standard' (ground truth for 'lab', default data for the others)
    limit: int | None = None  # at most this many texts / items per family (where a section sets none)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lab is None and self.model in ("lab", "lab:standard"):  # the shipped lab model: its own data
            object.__setattr__(self, "lab", "standard")
        check_pruning(self.methods, self.sparsities, self.structure, self.granularity)
        for f in self.families:
            FAMILIES.get(f)
        if not self.families:
            raise ConfigError("families: name at least one family, e.g. mia,extraction,fact_recall")
        native = [f for f in self.families if f in CAPABILITY_FAMILIES and f not in self.capability.files]
        if native and self.capability.source == "lab" and not self.lab:
            raise ConfigError("capability.source: lab needs lab: FOLDER (or capability.source: real)")

    def spec(self) -> ModelSpec:
        """The swept checkpoint under the config's model options."""
        return self.spec_for(self.model)


def load_sweep_config(path: str | None, overrides: list[str]) -> SweepConfig:
    return load_config(SweepConfig, path, overrides)


def run_sweep(cfg: SweepConfig, overwrite: bool = False, loaded: LoadedModel | None = None) -> Path:
    """Run (or resume) the sweep; returns the run directory. ``loaded``: an already-loaded model to use.

    Everything that needs no model is checked first, before the run folder is made or the model loaded: the
    data (``prepare_families``), the families' checks with the tokenizer alone, the calibration rows. A run
    that then fails before its first record removes the folder it made."""
    lab = resolve_lab(cfg.lab)
    data = prepare_families(cfg.families, with_limit(cfg, cfg.limit), lab)  # bad input fails before loading
    steps = plan(cfg.families, cfg.methods, cfg.sparsities, cfg.families)
    try:
        spec, loaded_by = cfg.spec(), {"model": loaded} if loaded else None
        where = resolve_checkpoints({"model": spec}, loaded_by).get("model")  # once: checks, identity, loading
        tokenizer = functools.cache(lambda: loaded.tokenizer if loaded is not None else load_tokenizer(spec, where))
        check_families(data, tokenizer)
        rows = calibration_for(cfg.calibration, lab, tokenizer()) if needs_calibration(pruning_methods(steps)) else None
        config = asdict(cfg)
        identity, sources = run_identity(config, {"model": spec}, lab, loaded_by, {"model": where} if where else None)
        seeds = {"bootstrap": cfg.seed, "capability": cfg.capability.seed}
        extra = {"seeds": seeds, "kind": "sweep"}
        run = RunDir(cfg.out, config, overwrite=overwrite, identity=identity, sources=sources, extra_manifest=extra)
        with discard_on_error(run):
            lm = loaded or load_model(spec, where)
            run.update_manifest(checkpoint=lm.describe(), source_notes=source_notes(lm.source))
            pruners = Pruners(lm, lambda: rows, cfg.structure, cfg.granularity)
            run_points(lm, run, lm.source, steps, data, pruners, batch_size=cfg.batch_size, seed=cfg.seed)
    finally:
        close_data(data)
    write_summaries(run, cfg.families)
    write_summary(run.path, command="sweep")
    return run.path


def write_summaries(run: RunDir, families: tuple[str, ...] | list[str]) -> None:
    """``sweep.json`` (and ``capability.json`` + ``curves.png``) rebuilt from every record of the run."""
    records = run.all_records()
    atomic_write_json(run.path / "sweep.json", {"points": points_summary(records), "records": len(records)})
    if any(is_capability_family(f) for f in families):
        from auditor.report.plots import plot_capability  # matplotlib: only when the files are written

        plot_capability(write_capability(run.path), run.path / "curves.png")
