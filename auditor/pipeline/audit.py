"""The release audit: one config, one command, one run directory, one verdict.

``auditor audit CONFIG.yaml`` runs what the config names on the candidate checkpoint and on each
comparison checkpoint (e.g. the previous release):

* membership inference (every attack from one pass; ``mia.json``),
* discoverable extraction at each prefix length (``extraction.json``),
* canary exposure (``exposure.json``),
* capability families at the dense model and, optionally, a pruning sweep over them (``sweep/``),

then checks the policy's rules (``gate.json``) when the config holds one. Layout::

    RUN/audit.json                    checkpoints and their folders, primary and baseline labels
    RUN/manifest.json                 the resolved config, versions, git sha
    RUN/checkpoints/<label>/          a resumable run directory per checkpoint (records.jsonl, *.json, samples/)
    RUN/gate.json                     the verdict, when a policy is given

Every step is a unit of its checkpoint's run directory, so a killed audit resumes where it stopped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from auditor.config import load_config
from auditor.data import load_texts, read_rows
from auditor.errors import ConfigError
from auditor.models import LoadedModel, ModelSpec, load_model
from auditor.report.figures import AUDIT_INDEX
from auditor.runs import RunDir, atomic_write_json

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint to audit beside the candidate (e.g. the previous release)."""

    label: str
    model: str  # folder, hub id, .gguf, lab, smollm2-135m
    revision: str | None = None

    def __post_init__(self) -> None:
        if not _LABEL.match(self.label):
            raise ConfigError(f"label {self.label!r}: use letters, digits, '_', '-', '.' (at most 64)")


@dataclass(frozen=True)
class MIASection:
    """Membership inference: member and non-member texts (default: the lab's) and attacks."""

    enabled: bool = True
    members: str | None = None
    nonmembers: str | None = None
    attacks: tuple[str, ...] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2")
    limit: int | None = None  # at most this many texts of each class
    n_boot: int = 1000  # bootstrap resamples for the AUC CI
    text_column: str = "text"
    id_column: str = "id"
    top_texts: int = 5  # highest-scoring member texts shown in the report


@dataclass(frozen=True)
class ExtractionSection:
    """Discoverable extraction: k-token prefix -> greedy m-token suffix (default data: the lab's members)."""

    enabled: bool = True
    data: str | None = None
    prefix_lens: tuple[int, ...] = (32,)
    suffix_len: int = 32
    limit: int | None = None
    text_column: str = "text"
    id_column: str = "id"
    # greedy extraction of the canaries' secrets from their prefixes, by repeat count (extraction_canaries.json);
    # on by default when there are canaries (the exposure section's, or the lab's)
    canaries: bool = True


@dataclass(frozen=True)
class ExposureSection:
    """Canary exposure (Carlini et al. 2019); canaries file rows hold prefix, secret and optional repeats."""

    enabled: bool = True
    canaries: str | None = None  # default: the lab's canaries


@dataclass(frozen=True)
class CapabilitySection:
    """Capability families measured on the dense checkpoint (and at every sweep point)."""

    enabled: bool = True
    families: tuple[str, ...] = ("fact_recall", "open_book", "overriding", "icl_classification")
    source: str | None = None  # lab (default when lab: is set) or real
    limit: int | None = None  # at most this many items per family


@dataclass(frozen=True)
class SweepSection:
    """An optional pruning sweep of the candidate over the capability families (and MIA if asked)."""

    enabled: bool = False
    methods: tuple[str, ...] = ("magnitude",)
    sparsities: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
    mia: bool = False  # also run membership inference at every point


@dataclass(frozen=True)
class AuditConfig:
    """``auditor audit`` configuration; see configs/audit-example.yaml for a commented example."""

    model: str  # the candidate checkpoint
    label: str = "candidate"
    out: str = "reports/audit"
    lab: str | None = None  # a lab folder: default data for every section
    revision: str | None = None
    compare: tuple[CheckpointRef, ...] = ()
    baseline: str | None = None  # label of the comparison that 'baseline' in rules means (default: the first)
    mia: MIASection = field(default_factory=MIASection)
    extraction: ExtractionSection = field(default_factory=ExtractionSection)
    exposure: ExposureSection = field(default_factory=ExposureSection)
    capability: CapabilitySection = field(default_factory=CapabilitySection)
    sweep: SweepSection = field(default_factory=SweepSection)
    policy: tuple[str, ...] = ()  # gate rules 'PATH OP VALUE'
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    trust_remote_code: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from auditor.report.gate import parse_rule

        if not _LABEL.match(self.label):
            raise ConfigError(f"label {self.label!r}: use letters, digits, '_', '-', '.' (at most 64)")
        labels = [self.label] + [c.label for c in self.compare]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"compare: duplicate checkpoint label(s) {', '.join(dup)}; labels must be unique")
        if self.baseline is not None and self.baseline not in labels[1:]:
            raise ConfigError(f"baseline: {self.baseline!r} is not a compare label; labels: {', '.join(labels[1:])}")
        for r in self.policy:
            parse_rule(r)
        if not self.lab:
            if self.mia.enabled and not (self.mia.members and self.mia.nonmembers):
                raise ConfigError("mia: give members and nonmembers files, or lab: FOLDER, or mia.enabled: false")
            if self.extraction.enabled and not self.extraction.data:
                raise ConfigError("extraction: give data: FILE, or lab: FOLDER, or extraction.enabled: false")
            if self.exposure.enabled and not self.exposure.canaries:
                raise ConfigError("exposure: give canaries: FILE, or lab: FOLDER, or exposure.enabled: false")

    @property
    def baseline_label(self) -> str | None:
        return self.baseline or (self.compare[0].label if self.compare else None)


def load_audit_config(path: str | None, overrides: list[str]) -> AuditConfig:
    return load_config(AuditConfig, path, overrides)


def resolve_lab(lab: str) -> Path:
    """A lab folder; ``standard`` is the lab shipped in the package (its hashes are checked)."""
    from auditor.lab.build import SHIPPED_DIR, verify_hashes

    if lab == "standard":
        verify_hashes(SHIPPED_DIR)
        return SHIPPED_DIR
    path = Path(lab)
    if not (path / "members.jsonl").exists():
        raise ConfigError(f"lab: {lab} is not a lab folder (no members.jsonl); use 'standard' or `auditor lab build`")
    return path


def _lab_path(cfg: AuditConfig, given: str | None, name: str) -> str:
    return given or str(resolve_lab(cfg.lab) / name)  # type: ignore[arg-type]


def _spec(cfg: AuditConfig, model: str, revision: str | None) -> ModelSpec:
    return ModelSpec(
        source=model, revision=revision, dtype=cfg.dtype, device=cfg.device, trust_remote_code=cfg.trust_remote_code
    )


def _mia(cfg: AuditConfig, lm: LoadedModel, run: RunDir) -> None:
    from auditor.probes.mia.runner import MIAConfig, run_mia

    s = cfg.mia
    members = load_texts(_lab_path(cfg, s.members, "members.jsonl"), s.text_column, s.id_column, limit=s.limit)
    nonmembers = load_texts(_lab_path(cfg, s.nonmembers, "nonmembers.jsonl"), s.text_column, s.id_column, limit=s.limit)
    mcfg = MIAConfig(attacks=s.attacks, batch_size=cfg.batch_size, seed=cfg.seed, n_boot=s.n_boot)
    run_mia(lm.model, lm.tokenizer, members, nonmembers, run, mcfg, record_tags={"checkpoint": run.path.name})


def _extraction(cfg: AuditConfig, lm: LoadedModel, run: RunDir) -> None:
    from auditor.probes.extraction import ExtractionConfig, run_extraction

    s = cfg.extraction
    texts = load_texts(_lab_path(cfg, s.data, "members.jsonl"), s.text_column, s.id_column, limit=s.limit)
    ecfg = ExtractionConfig(prefix_lens=s.prefix_lens, suffix_len=s.suffix_len, batch_size=cfg.batch_size)
    run_extraction(lm.model, lm.tokenizer, texts, run, ecfg, record_tags={"checkpoint": run.path.name})
    canaries = cfg.exposure.canaries or (cfg.lab and _lab_path(cfg, None, "canaries.jsonl"))
    if s.canaries and canaries:
        ccfg = ExtractionConfig(prefix_column="prefix", suffix_column="secret", batch_size=cfg.batch_size)
        rows = read_rows(canaries)
        tags = {"checkpoint": run.path.name}
        run_extraction(lm.model, lm.tokenizer, rows, run, ccfg, record_tags=tags, name="extraction_canaries")


def _exposure(cfg: AuditConfig, lm: LoadedModel, run: RunDir) -> None:
    from auditor.probes.extraction import ExposureConfig, run_exposure

    rows = read_rows(_lab_path(cfg, cfg.exposure.canaries, "canaries.jsonl"))
    ecfg = ExposureConfig(batch_size=cfg.batch_size, seed=cfg.seed)
    run_exposure(lm.model, lm.tokenizer, rows, run, ecfg, record_tags={"checkpoint": run.path.name})


def _lab_figures(cfg: AuditConfig, lm: LoadedModel, run: RunDir) -> None:
    from auditor.lab.build import load_lab_files
    from auditor.lab.evaluate import lab_figures, lab_records

    files = load_lab_files(resolve_lab(cfg.lab))  # type: ignore[arg-type]
    if not run.done("lab_figures"):
        figs = lab_figures(lm.model, lm.tokenizer, files, batch_size=cfg.batch_size or 64)
        atomic_write_json(run.path / "lab_figures.json", figs)
        n = {k: len(v) for k, v in files.items()}
        run.write("lab_figures", lab_records(figs, n, {"checkpoint": run.path.name}))


def _capability(cfg: AuditConfig, lm: LoadedModel, run: RunDir, with_sweep: bool) -> None:
    from auditor.pipeline.sweep import run_sweep, sweep_config_for_audit

    scfg = sweep_config_for_audit(cfg, run.path / "sweep", with_sweep)
    run_sweep(scfg, loaded=lm)


def probe_config(cfg: AuditConfig) -> dict:
    """The config that identifies the measurements: the policy and output folder are not part of it,
    so changing a rule re-checks a finished audit without re-running it."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("policy", "out")}


def audit_checkpoint(cfg: AuditConfig, label: str, lm: LoadedModel, folder: Path, *, primary: bool) -> RunDir:
    """Run every enabled section on one loaded checkpoint, resumably, in ``folder``."""
    sub_cfg = probe_config(cfg) | {"_checkpoint": label}
    run = RunDir(folder, sub_cfg, extra_manifest={"checkpoint": lm.describe(), "label": label})
    steps = [
        ("lab", cfg.lab is not None, _lab_figures),
        ("mia", cfg.mia.enabled, _mia),
        ("extraction", cfg.extraction.enabled, _extraction),
        ("exposure", cfg.exposure.enabled, _exposure),
    ]
    for name, enabled, fn in steps:
        if not enabled:
            continue
        unit = f"audit/{name}"
        if run.done(unit):
            log.info("[%s] %s: done earlier, skipped", label, name)
            continue
        log.info("[%s] %s", label, name)
        fn(cfg, lm, run)
        run.write(unit, [])
    if cfg.capability.enabled or (primary and cfg.sweep.enabled):
        if not run.done("audit/capability"):
            log.info("[%s] capability%s", label, " and pruning sweep" if primary and cfg.sweep.enabled else "")
            _capability(cfg, lm, run, with_sweep=primary and cfg.sweep.enabled)
            run.write("audit/capability", [])
    return run


def run_audit(cfg: AuditConfig, overwrite: bool = False) -> Path:
    """Run (or resume) the audit; returns the run directory. Gate rules are checked by the caller."""
    out = Path(cfg.out)
    top = RunDir(out, probe_config(cfg), overwrite=overwrite, extra_manifest={"kind": "audit"})
    refs = [CheckpointRef(cfg.label, cfg.model, cfg.revision), *cfg.compare]
    index = {
        "primary": cfg.label,
        "baseline": cfg.baseline_label,
        "checkpoints": {r.label: f"checkpoints/{r.label}" for r in refs},
        "models": {r.label: r.model for r in refs},
    }
    atomic_write_json(out / AUDIT_INDEX, index)
    if cfg.policy:
        atomic_write_json(out / "policy.json", {"rules": list(cfg.policy)})
    for i, ref in enumerate(refs):
        folder = out / index["checkpoints"][ref.label]
        if top.done(f"checkpoint/{ref.label}"):
            log.info("[%s] audited earlier, skipped", ref.label)
            continue
        lm = load_model(_spec(cfg, ref.model, ref.revision))
        audit_checkpoint(cfg, ref.label, lm, folder, primary=i == 0)
        top.write(f"checkpoint/{ref.label}", [])
        del lm
    return out
