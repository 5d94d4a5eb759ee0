"""The pruning sweep: for each method and sparsity, prune in memory, run the probe families, record, restore.

The model is loaded once. The dense model (sparsity 0) is always the first point and is measured
once, under method ``dense``. Each (method, sparsity, family) is one resumable unit of the run
directory, so a killed sweep resumes at the first unit not yet recorded. Records carry the actual
sparsity (measured after pruning) and the requested one.

Families: ``mia`` (membership inference on members vs non-members) and ``lab`` (the lab's figures:
fact recall, open-book / overriding QA, in-context classification, canary extraction by repeats).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from auditor.config import load_config
from auditor.data import TextSet, load_texts
from auditor.errors import ConfigError
from auditor.lab.build import load_lab_files
from auditor.lab.evaluate import lab_figures, lab_records
from auditor.models import ModelSpec, load_model
from auditor.probes.mia.runner import MIAConfig, expand_attacks, run_mia
from auditor.runs import RunDir, atomic_write_json
from pruning import PRUNERS, PruneSpec
from pruning.apply import sparsity_report
from pruning.calibration import calibration_rows
from pruning.engine import Pruning, select_targets

log = logging.getLogger(__name__)

FAMILIES = ("mia", "lab")


@dataclass(frozen=True)
class CalibrationConfig:
    """Calibration texts for Wanda and SparseGPT (default: the lab's calibration.jsonl)."""

    path: str | None = None
    text_column: str = "text"
    n_samples: int = 64  # rows of seq_len tokens
    seq_len: int = 128


@dataclass(frozen=True)
class MIASweepConfig:
    """Member and non-member texts (default: the lab's) and the attacks run at every point."""

    members: str | None = None
    nonmembers: str | None = None
    attacks: tuple[str, ...] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2")
    text_column: str = "text"
    id_column: str = "id"
    limit: int | None = None  # at most this many texts of each class


@dataclass(frozen=True)
class SweepConfig:
    """A sweep over methods and sparsities. Keys mirror ``auditor sweep`` flags."""

    model: str  # checkpoint (folder, hub id, .gguf, lab, smollm2-135m)
    out: str = "reports/sweep"  # run directory (resumed if it exists)
    methods: tuple[str, ...] = ("magnitude", "wanda")
    sparsities: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    structure: str = "unstructured"  # or "N:M", e.g. "2:4" (then sparsity is 1 - N/M)
    granularity: str | None = None  # layer | row | global; default: the method's own
    families: tuple[str, ...] = ("mia", "lab")
    lab: str | None = None  # lab folder (ground truth for 'lab', defaults for 'mia' and calibration)
    mia: MIASweepConfig = field(default_factory=MIASweepConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.methods:
            PRUNERS.get(m)
        for f in self.families:
            if f not in FAMILIES:
                raise ConfigError(f"families: unknown family {f!r}; valid: {', '.join(FAMILIES)}")
        for s in self.sparsities:
            PruneSpec(sparsity=s, structure=self.structure)
        if "lab" in self.families and not self.lab:
            raise ConfigError("families: 'lab' needs lab: FOLDER (a lab built by `auditor lab build`)")
        if "mia" in self.families and not self.lab and not (self.mia.members and self.mia.nonmembers):
            raise ConfigError("mia: give members and nonmembers files (or lab: FOLDER to use the lab's)")
        expand_attacks(self.mia.attacks, False)


def _mia_sets(cfg: SweepConfig) -> tuple[TextSet, TextSet]:
    lab = Path(cfg.lab) if cfg.lab else None
    mpath = cfg.mia.members or str(lab / "members.jsonl")
    npath = cfg.mia.nonmembers or str(lab / "nonmembers.jsonl")
    m = load_texts(mpath, cfg.mia.text_column, cfg.mia.id_column, limit=cfg.mia.limit)
    n = load_texts(npath, cfg.mia.text_column, cfg.mia.id_column, limit=cfg.mia.limit)
    return m, n


def run_sweep(cfg: SweepConfig, overwrite: bool = False) -> Path:
    """Run (or resume) the sweep; returns the run directory."""
    lm = load_model(ModelSpec(cfg.model, device=cfg.device, dtype=cfg.dtype))
    run = RunDir(
        cfg.out,
        asdict(cfg),
        overwrite=overwrite,
        extra_manifest={"checkpoint": lm.describe(), "seeds": {"bootstrap": cfg.seed}},
    )
    lab_files = load_lab_files(cfg.lab) if "lab" in cfg.families else None
    sets = _mia_sets(cfg) if "mia" in cfg.families else None
    mia_cfg = MIAConfig(attacks=cfg.mia.attacks, batch_size=cfg.batch_size, seed=cfg.seed, n_boot=200)
    points = [("dense", 0.0)] + [(m, s) for m in cfg.methods for s in sorted(set(cfg.sparsities)) if s > 0]
    undone = [(m, s) for m, s in points if any(not run.done(f"{m}/{s:g}/{f}") for f in cfg.families)]
    needed = {m for m, _ in undone if m != "dense"}
    rows = None
    if any(getattr(PRUNERS.get(m), "needs_calibration", False) for m in needed):
        cpath = cfg.calibration.path or (str(Path(cfg.lab) / "calibration.jsonl") if cfg.lab else None)
        if cpath is None:
            raise ConfigError("calibration.path is needed for wanda/sparsegpt (or lab: FOLDER)")
        texts = load_texts(cpath, cfg.calibration.text_column, None).texts
        rows = calibration_rows(lm.tokenizer, texts, cfg.calibration.n_samples, cfg.calibration.seq_len)
    pruners: dict[str, Pruning] = {}
    summary: list[dict] = []
    for method, s in points:
        todo = [f for f in cfg.families if not run.done(f"{method}/{s:g}/{f}")]
        if not todo:
            continue
        if method == "dense":
            ctx = nullcontext(sparsity_report(select_targets(lm.model, PruneSpec(sparsity=0.0))))
        else:
            if method not in pruners:
                log.info("[%s] preparing scores", method)
                pruners[method] = Pruning(lm.model, method, rows, PruneSpec(sparsity=0.0))
            ctx = pruners[method].at(PruneSpec(sparsity=s, structure=cfg.structure, granularity=cfg.granularity))
        with ctx as rep:
            tags = {
                "method": method,
                "sparsity": round(rep["overall"], 6),
                "requested_sparsity": s,
                "checkpoint": cfg.model,
            }
            for family in todo:
                unit = f"{method}/{s:g}/{family}"
                log.info("[%s sparsity %.2f (actual %.4f)] %s", method, s, rep["overall"], family)
                if family == "lab":
                    assert lab_files is not None
                    figs = lab_figures(lm.model, lm.tokenizer, lab_files, batch_size=cfg.batch_size or 64)
                    n = {k: len(v) for k, v in lab_files.items()}
                    run.write(unit, lab_records(figs, n, tags))
                else:
                    assert sets is not None
                    run_mia(lm.model, lm.tokenizer, *sets, run, mia_cfg, record_tags=tags, name=f"mia-{method}-{s:g}")
                    run.write(unit, [])
            summary.append({"method": method, "requested": s, "actual": rep["overall"]})
    atomic_write_json(run.path / "sweep.json", {"points": summary, "records": len(run.all_records())})
    return run.path


def load_sweep_config(path: str | None, overrides: list[str]) -> SweepConfig:
    return load_config(SweepConfig, path, overrides)
