"""``auditor unlearn-compare``'s configuration (see tasks/configs/unlearn-lab.yaml): the checkpoints to compare,
the forget / retain / holdout sets and QA pairs that MUSE's VerbMem / KnowMem / PrivLeak (Shi et al. 2024,
arXiv:2407.06460) and TOFU's truth ratio / forget quality / model utility (Maini et al. 2024, arXiv:2401.06121)
read, the onion margin, the resurfacing sweep and per-instance difficulty tracking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.capability.builders import CapabilityConfig
from auditor.config import build, load_config
from auditor.errors import ConfigError
from auditor.inputs.overlap import refuse_same_file
from auditor.models.load import ModelSpec
from auditor.models.options import ModelOptions
from auditor.pipeline.sections import CalibrationConfig, Sections
from auditor.probes.mia.base import ATTACKS
from auditor.probes.mia.config import expand_attacks
from auditor.pruning import PRUNERS
from auditor.unlearning.base import UnlearnConfig
from auditor.unlearning.measures import UnlearningSection

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
UTILITY = ("fact_recall", "open_book", "overriding", "icl_classification")
_SECTION_KEYS = (
    "forget",
    "retain",
    "holdout",
    "forget_qa",
    "retain_qa",
    "mia_attack",
    "prefix_len",
    "suffix_len",
    "knowmem_max_new_tokens",
    "text_column",
    "id_column",
)

_TOKEN_COUNTS = ("prefix_len", "suffix_len", "knowmem_max_new_tokens")  # each >= 1
_UNSUPPORTED_NEEDS = {"reference", "recall"}  # attack passes the unlearning MIA has no input for

__all__ = ["UTILITY", "UnlearnCompareConfig", "Unlearned", "load_compare_config"]


@dataclass(frozen=True)
class Unlearned:
    """An unlearned checkpoint to compare."""

    label: str
    model: str


@dataclass(frozen=True, kw_only=True)
class UnlearnCompareConfig(ModelOptions):
    """``auditor unlearn-compare`` configuration (see tasks/configs/unlearn-lab.yaml); the model options
    (device, dtype, ...) are :class:`auditor.models.options.ModelOptions`' flat keys, as in audit and sweep."""

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
    seed: int = 0

    def spec(self, model: str) -> ModelSpec:
        return self.spec_for(model)

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
        self._check_inputs()

    def _check_inputs(self) -> None:
        """What would otherwise fail only after the unlearning ran: the MIA attack (one of the attack registry's,
        needing no reference model), ``method_config``'s keys, the token counts, the onion margin, and a holdout
        that is the forget or retain file."""
        try:
            expand_attacks([self.mia_attack], True)
        except ConfigError as e:
            raise ConfigError(f"mia_attack: {e}") from e
        base = self.mia_attack.partition("@")[0]
        if set(ATTACKS.get(base).needs) & _UNSUPPORTED_NEEDS:
            usable = ", ".join(n for n in ATTACKS.names() if not set(ATTACKS.get(n).needs) & _UNSUPPORTED_NEEDS)
            raise ConfigError(
                f"mia_attack: {base!r} needs a reference model or a non-member prefix, which unlearn-compare does not "
                f"give; use one of {usable} (MUSE: min_k@0.4)"
            )
        if self.methods:
            build(UnlearnConfig, self.method_config, "method_config.")
        for name in _TOKEN_COUNTS:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a whole number of tokens >= 1, got {getattr(self, name)}")
        if not 0 <= self.onion_margin < 1:
            raise ConfigError(
                f"onion_margin: {self.onion_margin} is not in [0, 1); it is a rise in percentile, e.g. 0.1"
            )
        refuse_same_file(self.forget, "forget", self.holdout, "holdout")
        refuse_same_file(self.retain, "retain", self.holdout, "holdout")

    def sections(self) -> Sections:
        u = UnlearningSection(**{k: getattr(self, k) for k in _SECTION_KEYS})
        return Sections(unlearning=u, capability=CapabilityConfig(source="lab"), calibration=self.calibration)

    def families(self) -> list[str]:
        return ["unlearning", *(UTILITY if self.lab else ())]


def load_compare_config(path: str | None, overrides: list[str]) -> UnlearnCompareConfig:
    """The configuration from a YAML file (or none) and ``key=value`` overrides."""
    return load_config(UnlearnCompareConfig, path, overrides)
