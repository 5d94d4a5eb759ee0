"""The one config of membership inference: what the YAML section ``mia:`` and ``auditor mia``'s flags both build.

:class:`MIAConfig` names the data (member and non-member files, their columns, a limit), the attacks and how
they are scored (bootstrap resamples, truncation, units, ReCaLL shots) and the blind baseline. A sweep or audit
runs the family with the run's ``batch_size`` (where the section sets none) and the run's ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import ConfigError

# Importing the attack modules registers them.
from auditor.probes.mia import DEFAULT_ATTACKS, loss, min_k, min_k_pp, recall, reference, zlib_ratio  # noqa: F401
from auditor.probes.mia.base import ATTACKS


def expand_attacks(names: tuple[str, ...] | list[str], has_reference: bool) -> list[tuple[str, str, dict]]:
    """(variant name, attack name, kwargs) for each requested attack; validates names and k values."""
    out: list[tuple[str, str, dict]] = []
    for raw in names:
        base, _, val = raw.partition("@")
        attack = ATTACKS.get(base)
        if "reference" in attack.needs and not has_reference:
            raise ConfigError("the 'reference' attack needs --reference-model")
        if val:
            out.append(_one_k(raw, base, val, attack.param))
        else:
            out.extend((v, base, kw) for v, kw in attack.variants())
    seen: set[str] = set()
    return [x for x in out if not (x[0] in seen or seen.add(x[0]))]


def _one_k(raw: str, base: str, val: str, param: str | None) -> tuple[str, str, dict]:
    """``min_k@0.2``: one value of the attack's parameter, checked."""
    if not param:
        raise ConfigError(f"attack {base!r} takes no parameter; use {base!r}")
    try:
        k = float(val)
    except ValueError as e:
        raise ConfigError(f"{raw!r}: {val!r} is not a number") from e
    if not 0 < k <= 1:
        raise ConfigError(f"{raw!r}: k must be in (0, 1]")
    return f"{base}@{k:g}", base, {param: k}


@dataclass(frozen=True)
class MIAConfig:
    """Membership inference: member and non-member texts (default: the lab's), the attacks, and how to score."""

    enabled: bool = True
    members: str | None = None
    nonmembers: str | None = None
    attacks: tuple[str, ...] = DEFAULT_ATTACKS  # names; "min_k" = the whole grid, "min_k@0.2" = one k
    limit: int | None = None  # at most this many texts of each class
    n_boot: int = 1000  # bootstrap resamples for the AUC CI
    max_tokens: int | None = None  # truncate texts to this many tokens (default: the model's context)
    text_column: str = "text"
    id_column: str = "id"
    top_texts: int = 5  # highest-scoring member texts shown in the report
    # The model-free classifier of member vs non-member (Das et al. 2024) beside every attack; default: on
    # when the split is the user's (members/nonmembers given), off for the lab's random split.
    blind: bool | None = None
    blind_threshold: float = 0.6  # a blind AUC at or above this (or the best attack's) flags the split shifted
    batch_size: int | None = None  # texts per forward pass; None: the run's (auto: 16 on CPU, 64 on GPU, halved on OOM)
    unit_size: int = 256  # texts per resumable unit
    seed: int = 0  # bootstrap seed (a sweep or audit uses its run's seed)
    recall_shots: int = 3  # non-member texts joined into the ReCaLL prefix (and left out of scoring)

    def __post_init__(self) -> None:
        expand_attacks(self.attacks, True)
        checks = (
            ("n_boot", self.n_boot, 1),
            ("seed", self.seed, 0),
            ("unit_size", self.unit_size, 1),
            ("recall_shots", self.recall_shots, 1),
            ("top_texts", self.top_texts, 0),
        )
        for name, value, low in checks:
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
        if self.max_tokens is not None and self.max_tokens < 2:
            raise ConfigError(f"max_tokens must be at least 2 tokens, got {self.max_tokens}")
        if not 0.5 <= self.blind_threshold <= 1:
            raise ConfigError(f"blind_threshold: must be in [0.5, 1], got {self.blind_threshold}")

    def blind_on(self) -> bool:
        """Whether the blind baseline runs: as set, else on for the user's split and off for the lab's."""
        return self.blind if self.blind is not None else self.members is not None
