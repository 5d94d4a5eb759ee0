"""Per-instance unlearning difficulty: how many optimizer steps each forget example needs (pure functions).

Baluta et al. 2024 ("Unlearning in- vs. out-of-distribution data in LLMs under gradient-based methods")
find that gradient unlearning removes memorized outliers quickly and in-distribution or highly repeated
examples slowly; Sepahvand et al. 2025 ("Selective unlearning via representation erasure"; per-instance
privacy loss predicts unlearning difficulty) find per-example difficulty predictable before unlearning.
To measure it, a gradient method's training is observed (:mod:`auditor.unlearning.difficulty_tracker`) at
step 0 and every ``every`` steps, and each forget example's *trajectory* is kept: at every measured step,
whether it is still extractable (greedy decoding of its suffix after its prefix reproduces the suffix) and
its mean per-token loss. From a trajectory:

* ``steps_to_unextractable``: the first measured step from which on the example is no longer extractable
  (0 if it never was; ``None`` = not reached, still extractable at the last measured step). An example
  that becomes extractable again later counts from its last change ("settled"), and ``first_unextractable``
  keeps the first measured step at which it was not extractable;
* ``steps_to_oracle_loss``: the first measured step from which on its loss stays >= the retrain oracle's
  loss on the same example (``None`` = not reached); only with a retrain checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor.errors import ConfigError


@dataclass(frozen=True)
class DifficultySettings:
    """What the tracker measures, and how often (the unlearn-compare keys it comes from in brackets)."""

    every: int = 1  # measure at step 0 and every ``every`` optimizer steps, and at the last [difficulty_every]
    prefix_len: int = 12  # tokens of each forget text given as the prompt (VerbMem's split) [prefix_len]
    suffix_len: int = 16  # tokens that greedy decoding must reproduce exactly [suffix_len]
    batch_size: int | None = None  # teacher-forced batch size (None = auto) [batch_size]

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError(f"difficulty_every must be >= 1 to track (0 turns tracking off), got {self.every}")
        if self.prefix_len < 1 or self.suffix_len < 1:
            raise ConfigError(f"prefix_len and suffix_len must be >= 1, got {self.prefix_len}, {self.suffix_len}")


@dataclass(frozen=True)
class ExampleDifficulty:
    """One forget example's difficulty under one method (``None`` steps: criterion not reached)."""

    id: str
    ever_extractable: bool | None  # None: the text is shorter than prefix_len + suffix_len tokens
    steps_to_unextractable: int | None
    first_unextractable: int | None
    steps_to_oracle_loss: int | None
    loss_start: float
    loss_end: float
    oracle_loss: float | None


def measured_steps(total: int, every: int) -> list[int]:
    """The steps at which a run of ``total`` optimizer steps is measured: 0, every, 2 every, ..., and total."""
    if total < 0 or every < 1:
        raise ConfigError(f"measured_steps needs total >= 0 and every >= 1, got {total}, {every}")
    steps = list(range(0, total + 1, every))
    return steps if steps[-1] == total else [*steps, total]


def settle_step(steps: Sequence[int], met: Sequence[bool]) -> int | None:
    """The first measured step from which ``met`` holds at every later measured step; None when it does not
    hold at the last one. ``steps`` ascending, one flag per step."""
    if len(steps) != len(met) or not steps:
        raise ValueError(f"settle_step needs one flag per step, got {len(steps)} steps and {len(met)} flags")
    if not met[-1]:
        return None
    k = len(met) - 1
    while k > 0 and met[k - 1]:
        k -= 1
    return int(steps[k])


def steps_to_unextractable(steps: Sequence[int], extractable: Sequence[bool]) -> int | None:
    """First measured step from which the example stays unextractable; 0 if never extractable; None if
    still extractable at the end."""
    return settle_step(steps, [not e for e in extractable])


def first_unextractable(steps: Sequence[int], extractable: Sequence[bool]) -> int | None:
    """First measured step at which the example is not extractable (None if it always is)."""
    return next((int(s) for s, e in zip(steps, extractable, strict=True) if not e), None)


def steps_to_oracle_loss(steps: Sequence[int], losses: Sequence[float], oracle: float) -> int | None:
    """First measured step from which the example's loss stays >= the oracle's loss on it (None: not reached)."""
    return settle_step(steps, [loss >= oracle for loss in losses])


def example_difficulty(
    ex_id: str,
    steps: Sequence[int],
    extractable: Sequence[bool] | None,
    losses: Sequence[float],
    oracle: float | None,
) -> ExampleDifficulty:
    """One example's figures from its trajectory (``extractable`` None: too short for the split)."""
    ext = list(extractable) if extractable is not None else None
    return ExampleDifficulty(
        id=ex_id,
        ever_extractable=any(ext) if ext is not None else None,
        steps_to_unextractable=steps_to_unextractable(steps, ext) if ext is not None else None,
        first_unextractable=first_unextractable(steps, ext) if ext is not None else None,
        steps_to_oracle_loss=steps_to_oracle_loss(steps, losses, oracle) if oracle is not None else None,
        loss_start=float(losses[0]),
        loss_end=float(losses[-1]),
        oracle_loss=oracle,
    )


def trajectory_difficulty(trajectory: dict, oracle: dict[str, float] | None) -> list[ExampleDifficulty]:
    """Every example of a tracker's trajectory (:meth:`DifficultyTracker.trajectory`), with the oracle's
    per-example losses by id (None: no retrain checkpoint)."""
    steps = trajectory["steps"]
    out = []
    for i, ex_id in enumerate(trajectory["ids"]):
        ref = oracle.get(ex_id) if oracle is not None else None
        out.append(example_difficulty(ex_id, steps, trajectory["extractable"][i], trajectory["loss"][i], ref))
    return out
