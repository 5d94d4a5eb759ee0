"""The pruning sweep: for each method and sparsity, prune in memory, run the probe families, record, restore.

The model is loaded once. The dense model (sparsity 0) is always the first point and is measured
once, under method ``dense``. Each (method, sparsity, family) is one resumable unit of the run
directory, so a killed sweep resumes at the first unit not yet recorded. Records carry the actual
sparsity (measured after pruning) and the requested one.

Families: ``mia`` (membership inference on members vs non-members), ``lab`` (the lab's figures:
fact recall, open-book / overriding QA, in-context classification, canary extraction by repeats), and
the capability families ``fact_recall``, ``open_book``, ``overriding``, ``icl_classification`` and
``lm_eval:<task>`` (:mod:`auditor.capability`; tasks from the lab, from real facts or from user files,
per the ``capability:`` section). With capability families the sweep ends by writing
``RUN/capability.json`` and ``RUN/curves.png`` (Jin et al. 2024's thresholds; see
:mod:`auditor.capability.analysis`).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.capability.analysis import write_capability
from auditor.capability.builders import CapabilityConfig
from auditor.capability.runner import CapabilitySuite, check_family_names, is_capability_family
from auditor.capability.schema import FAMILIES as CAPABILITY_FAMILIES
from auditor.config import load_config
from auditor.data import TextSet, load_texts
from auditor.errors import ConfigError
from auditor.lab.build import load_lab_files
from auditor.lab.evaluate import lab_figures, lab_records
from auditor.models import LoadedModel, ModelSpec, load_model
from auditor.probes.mia.runner import MIAConfig, expand_attacks, run_mia
from auditor.runs import RunDir, atomic_write_json
from pruning import PRUNERS, PruneSpec
from pruning.apply import sparsity_report
from pruning.calibration import calibration_rows
from pruning.engine import Pruning, select_targets

if TYPE_CHECKING:
    from auditor.pipeline.audit import AuditConfig

log = logging.getLogger(__name__)

FAMILIES = ("mia", "lab", *CAPABILITY_FAMILIES)  # and lm_eval:<task>


@dataclass(frozen=True)
class CalibrationConfig:
    """Calibration texts for Wanda and SparseGPT (default: the lab's calibration.jsonl, else the shipped lab's)."""

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
    capability: CapabilityConfig = field(default_factory=CapabilityConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.methods:
            PRUNERS.get(m)
        for f in self.families:
            if f not in FAMILIES and not is_capability_family(f):
                raise ConfigError(f"families: unknown family {f!r}; valid: {', '.join(FAMILIES)}, lm_eval:TASK")
        check_family_names(self.families)
        native = [f for f in self.families if f in CAPABILITY_FAMILIES and f not in self.capability.files]
        if native and (self.capability.source or ("lab" if self.lab else "real")) == "lab" and not self.lab:
            raise ConfigError("capability.source: lab needs lab: FOLDER (or capability.source: real)")
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


def _calibration_path(cfg: SweepConfig) -> str:
    if cfg.calibration.path:
        return cfg.calibration.path
    if cfg.lab:
        return str(Path(cfg.lab) / "calibration.jsonl")
    from auditor.models import shipped_lab_dir

    path = str(shipped_lab_dir().parent / "calibration.jsonl")
    log.warning("calibration.path not set and no lab: calibrating on the shipped lab's texts (%s)", path)
    return path


def source_notes(source: str) -> list[str]:
    """Notes on how the checkpoint's weights came to be that bear on pruning (e.g. a quantized source)."""
    if source == "smollm2-135m" or source.lower().endswith(".gguf"):
        return [
            "weights dequantized from a quantized GGUF source (SmolLM2-135M-Instruct is shipped as Q4_1): each "
            "block of 32 weights takes at most 16 distinct values, so magnitude ranks have many ties; masks break "
            "ties deterministically (stable sort: the lower flat index is pruned first)"
        ]
    return []


def run_sweep(cfg: SweepConfig, overwrite: bool = False, loaded: LoadedModel | None = None) -> Path:
    """Run (or resume) the sweep; returns the run directory. ``loaded``: an already-loaded model to use."""
    suite = None
    if any(is_capability_family(f) for f in cfg.families):  # built (and lm-eval names checked) before loading
        suite = CapabilitySuite(list(cfg.families), cfg.capability, cfg.lab, cfg.batch_size)
    lm = loaded or load_model(ModelSpec(cfg.model, device=cfg.device, dtype=cfg.dtype))
    extra = {"checkpoint": lm.describe(), "seeds": {"bootstrap": cfg.seed, "capability": cfg.capability.seed}}
    extra["source_notes"] = source_notes(lm.source)
    if suite is not None:
        extra["capability_tasks"] = suite.describe()
    run = RunDir(cfg.out, asdict(cfg), overwrite=overwrite, extra_manifest=extra)
    lab_files = load_lab_files(cfg.lab) if "lab" in cfg.families else None
    sets = _mia_sets(cfg) if "mia" in cfg.families else None
    mia_cfg = MIAConfig(attacks=cfg.mia.attacks, batch_size=cfg.batch_size, seed=cfg.seed, n_boot=200)
    points = [("dense", 0.0)] + [(m, s) for m in cfg.methods for s in sorted(set(cfg.sparsities)) if s > 0]
    undone = [(m, s) for m, s in points if any(not run.done(f"{m}/{s:g}/{f}") for f in cfg.families)]
    needed = {m for m, _ in undone if m != "dense"}
    rows = None
    if any(getattr(PRUNERS.get(m), "needs_calibration", False) for m in needed):
        cpath = _calibration_path(cfg)
        if not run.manifest.get("calibration"):
            run.update_manifest(calibration=cpath)
        texts = load_texts(cpath, cfg.calibration.text_column, None).texts
        rows = calibration_rows(lm.tokenizer, texts, cfg.calibration.n_samples, cfg.calibration.seq_len)
    cap_samples = run.samples("capability") if suite is not None else None
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
                "checkpoint": lm.source,
            }
            for family in todo:
                unit = f"{method}/{s:g}/{family}"
                log.info("[%s sparsity %.2f (actual %.4f)] %s", method, s, rep["overall"], family)
                if family == "lab":
                    assert lab_files is not None
                    figs = lab_figures(lm.model, lm.tokenizer, lab_files, batch_size=cfg.batch_size or 64)
                    n = {k: len(v) for k, v in lab_files.items()}
                    run.write(unit, lab_records(figs, n, tags))
                elif suite is not None and is_capability_family(family):
                    recs, item_rows = suite.evaluate(family, lm.model, lm.tokenizer, tags)
                    if not cap_samples.has(unit):  # a kill between the two appends leaves only the samples
                        cap_samples.append(unit, [{"method": method, "sparsity": s, **r} for r in item_rows])
                    run.write(unit, recs)
                else:
                    assert sets is not None
                    run_mia(lm.model, lm.tokenizer, *sets, run, mia_cfg, record_tags=tags, name=f"mia-{method}-{s:g}")
                    run.write(unit, [])
            summary.append({"method": method, "requested": s, "actual": rep["overall"]})
    atomic_write_json(run.path / "sweep.json", {"points": summary, "records": len(run.all_records())})
    if suite is not None:
        suite.close()
        write_capability(run.path)
    return run.path


def load_sweep_config(path: str | None, overrides: list[str]) -> SweepConfig:
    return load_config(SweepConfig, path, overrides)


def sweep_config_for_audit(cfg: AuditConfig, out: str | Path, with_sweep: bool) -> SweepConfig:
    """The sweep an audit runs (``auditor.pipeline.audit.AuditConfig``): capability families at the dense model, and
    at every sweep point when ``with_sweep``; MIA too when ``sweep.mia``."""
    from auditor.pipeline.audit import resolve_lab

    fams = list(cfg.capability.families) if cfg.capability.enabled or with_sweep else []
    if with_sweep and cfg.sweep.mia:
        fams.append("mia")
    cap = CapabilityConfig(source=cfg.capability.source, limit=cfg.capability.limit, seed=cfg.seed)
    return SweepConfig(
        model=cfg.model,
        out=str(out),
        methods=tuple(cfg.sweep.methods) if with_sweep else (),
        sparsities=tuple(cfg.sweep.sparsities) if with_sweep else (0.0,),
        families=tuple(fams),
        lab=str(resolve_lab(cfg.lab)) if cfg.lab else None,
        capability=cap,
        batch_size=cfg.batch_size,
        device=cfg.device,
        dtype=cfg.dtype,
        seed=cfg.seed,
    )
