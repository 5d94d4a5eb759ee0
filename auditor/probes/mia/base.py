"""What every MIA attack receives, and the attack registry. Convention: higher score = more likely a member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from auditor.lm.tokenstats import TokenStats
from auditor.registry import Registry
from auditor.stats.metrics import TPR_FPRS
from auditor.store.runs import Record


@dataclass
class AttackInputs:
    """Token statistics of the target texts, plus those extra passes some attacks need."""

    target: TokenStats
    lowercase: TokenStats | None = None  # the target model on the lowercased texts
    reference: TokenStats | None = None  # a reference model on the same texts
    recall: TokenStats | None = None  # the target model on the texts after a non-member prefix
    _lowest: dict[str, LowestKMeans] = field(default_factory=dict, repr=False, compare=False)

    def lowest_k(self, key: str, per_text: Callable[[], list[np.ndarray]]) -> LowestKMeans:
        """The lowest-k means of the per-text values ``per_text()`` makes, sorted once for every k (memoized by key)."""
        if key not in self._lowest:
            self._lowest[key] = LowestKMeans(per_text())
        return self._lowest[key]


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


class LowestKMeans:
    """Per text, the mean of the lowest ``k`` fraction of its values (at least one), for any ``k``: the texts'
    values are sorted once into a padded matrix with running sums, so a k grid costs one gather per k."""

    def __init__(self, per_text: list[np.ndarray]) -> None:
        self.lengths = np.array([a.size for a in per_text], dtype=np.int64)
        padded = np.full((len(per_text), int(self.lengths.max(initial=1))), np.inf)
        padded[np.arange(padded.shape[1]) < self.lengths[:, None]] = np.concatenate(per_text) if per_text else []
        self.sums = np.cumsum(np.sort(padded, axis=1), axis=1)  # the padding (inf) sorts last, after every value

    def __call__(self, k: float) -> np.ndarray:
        n = np.maximum(1, (self.lengths * k).astype(np.int64))  # int(len * k) values, at least one (Shi et al.'s k%)
        return self.sums[np.arange(n.size), n - 1] / n


FIGURES = ("auc", *TPR_FPRS, "accuracy")  # the figures of membership_metrics recorded per attack


def metric_records(
    task: str, res: dict, extra: dict, tags: dict, skipped: dict[str, int] | None = None
) -> list[Record]:
    """One ``mia`` record per figure of :func:`auditor.stats.metrics.membership_metrics`, with its bootstrap CI when it
    has one (AUC, TPR at each FPR). Every ``extra`` holds the class sizes and ``extra``; a TPR's also holds its
    ``max_fpr`` and ``low_n`` (fewer than 1/FPR non-members: the TPR at zero false positives). A figure whose
    interval is not estimable (too few texts in a class, :func:`auditor.stats.intervals.membership_ci`) has ci
    None and ``extra.ci_note`` saying why. ``skipped``: the texts given but not scored, by reason."""
    n = res["n_members"] + res["n_nonmembers"]
    base = {"n_members": res["n_members"], "n_nonmembers": res["n_nonmembers"], **extra}
    out = []
    for metric in FIGURES:
        ci = res.get(f"{metric}_ci")
        more = {"max_fpr": TPR_FPRS[metric], "low_n": res[f"{metric}_low_n"]} if metric in TPR_FPRS else {}
        ci = tuple(ci) if ci else None
        if res.get(f"{metric}_ci_note"):
            more["ci_note"] = res[f"{metric}_ci_note"]
        gone = dict(skipped or {})
        out.append(Record("mia", task, metric, res[metric], n=n, ci=ci, extra={**base, **more}, skipped=gone, **tags))
    return out
