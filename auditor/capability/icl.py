"""In-context linear classification episodes, generated fresh from a seed.

After Jin et al. 2024, "The cost of down-scaling language models: fact recall deteriorates before
in-context learning" (ICLR 2024): each episode draws a random linear rule ``sign(w . x + b)`` over
integer points in ``[0, 99]^dim``, shows ``k`` labelled points as text ("23, 71 -> A"), then asks for
the label of a query point. The rule is new in every episode, so the label can only come from the
episode's own examples: the model's 0-shot accuracy on the same queries is the baseline (chance,
up to label bias), and what in-context learning adds is the k-shot minus 0-shot gain.

Every point (examples and query) lies at least ``margin`` units from the decision boundary, both
labels appear among the examples, and query labels are balanced. Episode ``i`` depends only on
``(seed, i)``, so ``limit`` changes how many episodes are drawn, not which.
"""

from __future__ import annotations

import math
import random

from auditor.capability.schema import TaskItem

DEFAULT_LABELS: tuple[str, str] = ("A", "B")


def _fmt(x: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in x)


def rule_label(x: tuple[int, ...], w: tuple[int, ...], b: float, labels: tuple[str, str]) -> str:
    """The label of ``x`` under the rule: ``labels[0]`` where ``w . x + b > 0``, else ``labels[1]``."""
    return labels[0] if sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b > 0 else labels[1]


def icl_episode(
    seed: int,
    index: int,
    shots: int = 8,
    dim: int = 2,
    labels: tuple[str, str] = DEFAULT_LABELS,
    margin: float = 3.0,
) -> TaskItem:
    """Episode ``index`` of the stream seeded by ``seed``: k labelled points from a random linear rule."""
    rng = random.Random(f"{seed}-icl-{index}")
    while True:
        w = tuple(rng.randint(-9, 9) for _ in range(dim))
        if any(w):
            break
    norm = math.sqrt(sum(v * v for v in w))
    centre = tuple(rng.randint(25, 74) for _ in range(dim))
    b = -sum(wi * ci for wi, ci in zip(w, centre, strict=True)) + 0.5  # never exactly on a lattice point

    def draw(want: str | None = None) -> tuple[int, ...]:
        while True:
            x = tuple(rng.randint(0, 99) for _ in range(dim))
            if abs(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b) < margin * norm:
                continue
            if want is None or rule_label(x, w, b, labels) == want:
                return x

    need = max(1, shots // 4) if shots > 1 else 0
    while True:
        xs = [draw() for _ in range(shots)]
        ys = [rule_label(x, w, b, labels) for x in xs]
        if shots < 2 or all(ys.count(lab) >= need for lab in labels):
            break
    target = labels[index % 2]  # balanced query labels
    q = draw(target)
    demos = tuple(f"{_fmt(x)} -> {y}" for x, y in zip(xs, ys, strict=True))
    return TaskItem(
        id=f"icl-{seed}-{index:05d}",
        family="icl_classification",
        header="Classify:",
        demos=demos,
        query=f"{_fmt(q)} ->",
        answers=(f" {target}",),
        choices=tuple(f" {lab}" for lab in labels),
        meta={"w": list(w), "b": b, "examples": [list(x) for x in xs], "query": list(q), "dim": dim},
    )


def icl_episodes(
    seed: int, n: int, shots: int = 8, dim: int = 2, labels: tuple[str, str] = DEFAULT_LABELS
) -> list[TaskItem]:
    """``n`` episodes (see :func:`icl_episode`)."""
    return [icl_episode(seed, i, shots, dim, labels) for i in range(n)]
