"""The release audit: one config, one command, one run directory, one verdict.

``auditor audit CONFIG.yaml`` runs the one loop (:mod:`auditor.pipeline.loop`) on the candidate checkpoint
and on each comparison checkpoint (e.g. the previous release): at the dense point every enabled family
(``lab``, ``mia``, ``extraction``, ``exposure``, ``untargeted``, the capability families), and, for the
candidate when ``sweep.enabled``, ``sweep.families`` (default: the capability families, plus ``mia`` when
``sweep.mia``) at every method and sparsity. Then the policy's rules are checked by the caller. Layout::

    RUN/audit.json                    checkpoints and their folders, primary and baseline labels
    RUN/manifest.json                 the resolved config, versions, git sha
    RUN/checkpoints/<label>/          a resumable run directory per checkpoint (records.jsonl, samples/)
    RUN/gate.json                     the verdict, when a policy is given

Every (point, family) is a unit of its checkpoint's run directory, so a killed audit resumes where it stopped.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.families import declared
from auditor.models.load import LoadedModel, ModelSpec, Resolved, load_model, load_tokenizer
from auditor.models.options import ModelOptions
from auditor.pipeline.loop import (
    Pruners,
    Step,
    check_families,
    close_data,
    plan,
    prepare_families,
    pruning_methods,
    run_points,
)
from auditor.pipeline.runid import resolve_checkpoints, run_identity
from auditor.pipeline.sections import (
    Sections,
    calibration_for,
    calibration_loader,
    check_pruning,
    needs_calibration,
    resolve_lab,
    source_notes,
    with_limit,
)
from auditor.pipeline.sweep import write_summaries
from auditor.report.figures import AUDIT_INDEX
from auditor.report.policy import parse_policy
from auditor.report.summary import write_summary
from auditor.store.runs import RunDir, atomic_write_json, discard_on_error

log = logging.getLogger(__name__)

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_label(label: str) -> None:
    if not _LABEL.match(label):
        raise ConfigError(f"label {label!r}: use letters, digits, '_', '-', '.' (at most 64)")


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint to audit beside the candidate (e.g. the previous release)."""

    label: str
    model: str  # folder, hub id, .gguf, lab, smollm2-135m
    revision: str | None = None

    def __post_init__(self) -> None:
        check_label(self.label)


@dataclass(frozen=True)
class SweepSection:
    """An optional pruning sweep of the candidate (model loaded once, pruned in place, restored)."""

    enabled: bool = False
    methods: tuple[str, ...] = ("magnitude",)
    sparsities: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
    structure: str = "unstructured"
    families: tuple[str, ...] = ()  # default: the capability families (+ mia when mia: true)
    mia: bool = False  # also run membership inference at every point (when families is empty)

    def __post_init__(self) -> None:
        check_pruning(self.methods, self.sparsities, self.structure)


@dataclass(frozen=True, kw_only=True)
class AuditConfig(Sections, ModelOptions):
    """``auditor audit`` configuration; see tasks/configs/audit-example.yaml for a commented example.

    The model keys (device, dtype, batch_size, ... at the top level) are :class:`ModelOptions`', for every
    checkpoint audited; ``revision`` is the candidate's (a ``compare`` entry gives its own)."""

    model: str  # the candidate checkpoint
    label: str = "candidate"
    out: str = "reports/audit"
    lab: str | None = None  # a lab folder: default data for every section
    compare: tuple[CheckpointRef, ...] = ()
    baseline: str | None = None  # label of the comparison that 'baseline' in rules means (default: the first)
    sweep: SweepSection = field(default_factory=SweepSection)
    # gate rules 'PATH OP VALUE', or {rules: [...], min_n: N, inconclusive: fail|pass} (report/policy.py)
    policy: tuple[str, ...] | dict = ()
    limit: int | None = None  # at most this many texts / items per section (where a section sets none)
    seed: int = 0

    def __post_init__(self) -> None:
        check_label(self.label)
        labels = [self.label] + [c.label for c in self.compare]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"compare: duplicate checkpoint label(s) {', '.join(dup)}; labels must be unique")
        if self.baseline is not None and self.baseline not in labels[1:]:
            raise ConfigError(f"baseline: {self.baseline!r} is not a compare label; labels: {', '.join(labels[1:])}")
        if self.policy:
            parse_policy(self.policy)
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

    def dense_families(self) -> list[str]:
        """Families measured on every checkpoint at the dense point."""
        fams = ["lab"] if self.lab else []
        fams += [name for name in ("mia", "extraction", "exposure", "untargeted") if getattr(self, name).enabled]
        return fams + (list(self.capability.families) if self.capability.enabled else [])

    def sweep_families(self) -> list[str]:
        if self.sweep.families:
            return list(self.sweep.families)
        return list(self.capability.families) + (["mia"] if self.sweep.mia else [])

    def steps(self, primary: bool) -> list[Step]:
        swept = primary and self.sweep.enabled
        dense = list(dict.fromkeys(self.dense_families() + (self.sweep_families() if swept else [])))
        if not swept:
            return plan(dense, (), (), ())
        return plan(dense, self.sweep.methods, self.sweep.sparsities, self.sweep_families())


def load_audit_config(path: str | None, overrides: list[str]) -> AuditConfig:
    return load_config(AuditConfig, path, overrides)


def probe_config(cfg: AuditConfig) -> dict:
    """The config that identifies the measurements: the policy and output folder are not part of it,
    so changing a rule re-checks a finished audit without re-running it."""
    return {k: v for k, v in asdict(cfg).items() if k not in ("policy", "out")}


def _spec(cfg: AuditConfig, ref: CheckpointRef) -> ModelSpec:
    """The checkpoint ``ref`` under the audit's model options, at its own revision."""
    return replace(cfg.model_options, revision=ref.revision).spec_for(ref.model)


def audit_checkpoint(
    cfg: AuditConfig,
    label: str,
    lm: LoadedModel,
    folder: Path,
    *,
    primary: bool,
    data: dict[str, Any],
    lab: Path | None = None,
    identity: dict | None = None,
    calibration: list | None = None,
) -> RunDir:
    """Every enabled family (and, for the primary, the sweep) on one loaded checkpoint, resumably, in ``folder``.
    ``calibration``: the sweep's calibration rows, made before loading (default: made from ``lm`` when needed)."""
    sub_cfg = probe_config(cfg) | {"_checkpoint": label}
    extra = {"checkpoint": lm.describe(), "label": label, "source_notes": source_notes(lm.source)}
    run = RunDir(folder, sub_cfg, extra_manifest=extra, identity=identity)
    rows = (lambda: calibration) if calibration is not None else (lambda: calibration_loader(cfg.calibration, lab, lm))
    pruners = Pruners(lm, rows, cfg.sweep.structure)
    steps = cfg.steps(primary)
    run_points(lm, run, label, steps, data, pruners, batch_size=cfg.batch_size, seed=cfg.seed)
    write_summaries(run, [f for s in steps for f in s.families])
    return run


def run_audit(cfg: AuditConfig, overwrite: bool = False, loaded: LoadedModel | None = None) -> Path:
    """Run (or resume) the audit; returns the run directory. Gate rules are checked by the caller.
    ``loaded``: the candidate, already loaded (comparison checkpoints are loaded from their sources).

    Everything that needs no model is checked first, before any folder is made or model loaded: the data
    (``prepare_families``), the policy's paths, each checkpoint's tokenizer against the families' data, the
    calibration rows. A run that then fails before its first record removes the folder it made."""
    cfg = with_limit(cfg, cfg.limit)
    refs = [CheckpointRef(cfg.label, cfg.model, cfg.revision), *cfg.compare]
    names = list(dict.fromkeys([f for s in cfg.steps(True) for f in s.families]))
    lab = resolve_lab(cfg.lab)
    data = prepare_families(names, cfg, lab)  # bad input fails before any model loads
    try:
        loaded_by = {cfg.label: loaded} if loaded is not None else None
        specs = {r.label: _spec(cfg, r) for r in refs}
        where = resolve_checkpoints(specs, loaded_by)  # once per checkpoint: checks, identity and loading share it
        calibration = check_before_loading(cfg, refs, data, lab, loaded, where)
        identity, sources = run_identity(probe_config(cfg), specs, lab, loaded_by, where)
        top = open_audit_folder(cfg, refs, identity, sources, overwrite)  # refused before any model loads
        with discard_on_error(top):
            for i, ref in enumerate(refs):
                if top.done(f"checkpoint/{ref.label}"):
                    log.info("[%s] audited earlier, skipped", ref.label)
                    continue
                lm = loaded if (i == 0 and loaded is not None) else load_model(specs[ref.label], where[ref.label])
                folder = top.path / "checkpoints" / ref.label
                rows = calibration if i == 0 else None
                audit_checkpoint(
                    cfg, ref.label, lm, folder, primary=i == 0, data=data, lab=lab, identity=identity, calibration=rows
                )
                top.write(f"checkpoint/{ref.label}", [])
                del lm
    finally:
        close_data(data)
    write_summary(top.path, command="audit")
    return top.path


def check_before_loading(
    cfg: AuditConfig,
    refs: list[CheckpointRef],
    data: dict[str, Any],
    lab: Path | None,
    loaded: LoadedModel | None,
    resolved: dict[str, Resolved] | None = None,
) -> list | None:
    """The checks that need no model, before any folder or model: the policy's paths against the audit's
    families, each checkpoint's tokenizer (loaded alone) against its families' data, and the candidate's sweep
    calibration rows (returned; None when no method of the sweep calibrates). ``resolved``: label -> the
    checkpoint's resolved source (default: resolved here)."""
    check_policy(cfg, list(data))
    where = resolved or {}
    tokenizers = [
        functools.cache(lambda ref=ref: load_tokenizer(_spec(cfg, ref), where.get(ref.label))) for ref in refs
    ]
    if loaded is not None:
        tokenizers[0] = lambda: loaded.tokenizer
    for i, tok in enumerate(tokenizers):
        mine = {name for step in cfg.steps(i == 0) for name in step.families}
        check_families({n: d for n, d in data.items() if n in mine}, tok)
    if not needs_calibration(pruning_methods(cfg.steps(True))):
        return None
    return calibration_for(cfg.calibration, lab, tokenizers[0]())


def check_policy(cfg: AuditConfig, families: list[str]) -> None:
    """Every policy rule's path is a figure that a family of this audit records (one line naming the rule)."""
    for rule in parse_policy(cfg.policy).rules if cfg.policy else ():
        text, path = rule.text, rule.path
        if declared(path, families) is None:
            raise ConfigError(
                f"policy rule {text!r}: no family of this audit records {path!r} (families: {', '.join(families)}); "
                "correct the path, or enable the family that records it"
            )


def open_audit_folder(
    cfg: AuditConfig, refs: list[CheckpointRef], identity: dict, sources: list[str], overwrite: bool
) -> RunDir:
    """The audit's top folder (opened, resumed or refused), with its index of checkpoints and the policy."""
    config = probe_config(cfg)
    top = RunDir(
        cfg.out, config, overwrite=overwrite, extra_manifest={"kind": "audit"}, identity=identity, sources=sources
    )
    index = {
        "primary": cfg.label,
        "baseline": cfg.baseline_label,
        "checkpoints": {r.label: f"checkpoints/{r.label}" for r in refs},
        "models": {r.label: r.model for r in refs},
    }
    atomic_write_json(top.path / AUDIT_INDEX, index)
    if cfg.policy:
        atomic_write_json(top.path / "policy.json", parse_policy(cfg.policy).spec)
    return top
