"""What a figure of the figures tree means, for a reader who does not know the paths: a name, its direction
(which way is better) and one plain sentence, each read from the family that declares the figure
(:func:`auditor.families.declared`). Used by the report's first screen and the terminal."""

from __future__ import annotations

import math

from auditor.families import declared, figures_of, strip_path
from auditor.report.figures import longest_key
from auditor.store.record_tree import is_evidence

LOWER, HIGHER = "lower is better", "higher is better"


def lookup(tree: dict, path: str) -> tuple[dict, str] | None:
    """``(parent mapping, key)`` of the figure at ``path`` (keys may hold dots: the longest that fits wins)."""
    node, rest = tree, path
    while True:
        key = longest_key(node, rest)
        if key is None:
            return None
        if rest == key:
            return node, key
        if not isinstance(node[key], dict):
            return None
        node, rest = node[key], rest[len(key) + 1 :]


def direction(path: str, op: str | None = None) -> str:
    """From a rule's operator when there is one, else from the figure's declaration."""
    if op:
        return LOWER if op.startswith("<") else HIGHER
    fig = declared(path)
    return f"{fig.better} is better" if fig is not None else LOWER


def is_bits(path: str) -> bool:
    """Whether the figure is measured in bits (exposure and its ceiling)."""
    fig = declared(path)
    return fig is not None and (fig.ceiling == "max_possible" or fig.path == "exposure.max_possible")


def meaning(path: str, entry: dict) -> str:
    """One sentence on the figure at ``path``; ``entry`` is the mapping that holds it (its siblings)."""
    if path.endswith((".ci_low", ".ci_high")):
        end = "lower" if path.endswith(".ci_low") else "upper"
        base = path.rsplit(".", 1)[0]
        return f"The {end} end of the 95% interval of {base}. " + meaning(base, entry)
    fig = declared(path)
    if fig is None:
        return ""
    text = fig.describe(strip_path(path))
    top = entry.get(fig.ceiling) if fig.ceiling else None
    if isinstance(top, int | float) and top > 0:
        n = f"{2**top:,.0f}" if top <= 40 else f"2^{top:.1f}"
        text += f" Here: ceiling {top:.1f} bits = log2 of {n} candidate secrets."
    return text


def friendly(path: str) -> str:
    """A short name for a headline figure's path (its declared name, else the path)."""
    fig = declared(path)
    return fig.title(strip_path(path)) if fig is not None else path


def figure_paths(tree: dict, prefix: str = "") -> dict[str, float]:
    """Every numeric figure of a tree by its path (evidence siblings and the ``points`` subtree left out)."""
    out: dict[str, float] = {}
    for key, v in tree.items():
        if is_evidence(key) or (not prefix and key == "points"):
            continue
        if isinstance(v, dict):
            out.update(figure_paths(v, f"{prefix}{key}."))
        elif isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v):
            out[f"{prefix}{key}"] = float(v)
    return out


def headline_paths(tree: dict, most: int) -> list[str]:
    """The headline pick of a point's figures tree: each family's ``headline`` figures, in registry order, that
    were measured; a declared pattern (``mia.<attack>.auc``) contributes its most alarming match (the strongest
    attack), among the paths it declares (not those an earlier, more specific declaration claims)."""
    found = figure_paths(tree)
    out: list[str] = []
    for fig in figures_of():
        if not fig.headline:
            continue
        mine = [p for p in found if fig.match(p) is not None and declared(p) is fig]
        if not mine:
            continue
        sign = {"lower": 1.0, "higher": -1.0}.get(fig.better, 0.0)
        out.append(max(mine, key=lambda p: (sign * found[p], p)))
    return list(dict.fromkeys(out))[:most]
