"""What every MIA attack receives, and the attack registry. Convention: higher score = more likely a member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from auditor.lm.tokenstats import TokenStats
from auditor.registry import Registry


@dataclass
class AttackInputs:
    """Token statistics of the target texts, plus those extra passes some attacks need."""

    target: TokenStats
    lowercase: TokenStats | None = None  # the target model on the lowercased texts
    reference: TokenStats | None = None  # a reference model on the same texts
    recall: TokenStats | None = None  # the target model on the texts after a non-member prefix


@dataclass(frozen=True)
class Attack:
    """A scoring rule. ``grid`` lists the values of its one hyperparameter (``k``), if it has one."""

    name: str
    score: Callable[..., np.ndarray]  # score(inputs, **{param: value}) -> one score per text
    needs: tuple[str, ...] = ()  # extra passes: "lowercase", "reference", "recall"
    param: str | None = None
    grid: tuple[float, ...] = ()
    paper: str = ""

    def variants(self) -> list[tuple[str, dict]]:
        """(``name@value``, kwargs) for each grid value, or (name, {}) without a grid."""
        if not self.param:
            return [(self.name, {})]
        return [(f"{self.name}@{v:g}", {self.param: v}) for v in self.grid]


ATTACKS: Registry[Attack] = Registry("attack")


def mean_logprob(stats: TokenStats) -> np.ndarray:
    return np.array([a.mean() for a in stats.logprob])


def lowest_k_mean(values: np.ndarray, k: float) -> float:
    """Mean of the lowest ``k`` fraction of ``values`` (at least one value)."""
    n = max(1, int(len(values) * k))
    return float(np.sort(values)[:n].mean())
