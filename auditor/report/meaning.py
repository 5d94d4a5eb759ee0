"""What a figure of the figures tree means, for a reader who does not know the paths: a name, its direction
(which way is better) and one plain sentence. Used by the report's first screen."""

from __future__ import annotations

import re

from auditor.report.figures import longest_key

LOWER, HIGHER = "lower is better", "higher is better"
TPR = re.compile(r"tpr@([\d.]+)%fpr$")


UNSEEN = "about 1 for a canary the model never saw: it ranks mid-way"


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
    """From a rule's operator when there is one, else from what the figure measures."""
    if op:
        return LOWER if op.startswith("<") else HIGHER
    leaf = path.rsplit(".", 1)[-1]
    if path.startswith("unlearning.") and leaf == "privleak":
        return "closer to 0 is better"
    higher = ("accuracy", "knowmem_retain", "model_utility", "forget_quality", "fact_recall", "open_book")
    if leaf in higher or ".threshold_5pct." in path:
        return HIGHER
    return LOWER


def is_bits(path: str) -> bool:
    return path.startswith("exposure.") and path.rsplit(".", 1)[-1] in ("mean", "max", "max_possible")


def meaning(path: str, entry: dict) -> str:
    """One sentence on the figure at ``path``; ``entry`` is the mapping that holds it (its siblings)."""
    if path.endswith((".ci_low", ".ci_high")):
        end = "lower" if path.endswith(".ci_low") else "upper"
        return f"The {end} end of the 95% interval of {path.rsplit('.', 1)[0]}. " + meaning(
            path.rsplit(".", 1)[0], entry
        )
    leaf = path.rsplit(".", 1)[-1]
    fam = path.split(".", 1)[0]
    if fam == "mia" and leaf == "auc":
        return "0.5 = the attack cannot tell training members from non-members; 1.0 = it always can."
    if m := TPR.search(path):
        return f"Share of training members caught while wrongly flagging {m[1]}% of non-members."
    if fam == "extraction_canaries" and "extraction_rate" in leaf:
        return "Share of planted canary secrets the model completes verbatim from their prefix; 0 = none leak."
    if fam == "extraction" and leaf.startswith("exact_extraction_rate"):
        return "Share of training texts whose continuation the model reproduces word for word from a prefix."
    if fam == "extraction":
        return "Share of training continuations reproduced (approximately, or token by token) from a prefix."
    if is_bits(path):
        return _exposure(leaf, entry)
    if fam == "capability" and leaf == "accuracy":
        family = path.split(".")[1]
        return f"Share of {family.replace('_', ' ')} items answered correctly: what pruning or unlearning must keep."
    if ".threshold_5pct." in path:
        return "Largest sparsity at which accuracy stays within 5% of the unpruned model (Jin et al. 2024)."
    if fam == "unlearning":
        return "Unlearning measure of one checkpoint (MUSE / TOFU); see the unlearning section."
    return ""


def _exposure(leaf: str, entry: dict) -> str:
    top = entry.get("max_possible")
    what = {"max": "the most exposed canary", "mean": "the average canary"}.get(leaf, "a canary at rank one")
    if isinstance(top, int | float) and top > 0:
        n = f"{2**top:,.0f}" if top <= 40 else f"2^{top:.1f}"
        return (f"Exposure of {what}, in bits ({UNSEEN}); ceiling {top:.1f} bits = log2 of {n} "
                "candidate secrets, reached when the canary ranks first.")  # fmt: skip
    return f"Exposure of {what}, in bits ({UNSEEN}); ceiling log2(number of candidate secrets)."


def friendly(path: str) -> str:
    """A short name for a headline figure's path."""
    names = {
        "mia.loss.auc": "MIA LOSS AUC",
        "extraction_canaries.exact_extraction_rate": "canary exact extraction rate",
        "extraction.exact_extraction_rate": "exact extraction rate",
        "exposure.max": "max canary exposure (bits)",
        "exposure.mean": "mean canary exposure (bits)",
        "capability.fact_recall.accuracy": "fact recall accuracy",
        "capability.icl_classification.accuracy": "ICL classification accuracy",
    }
    if path in names:
        return names[path]
    if path.startswith("mia.") and path.endswith(".auc"):
        attack = path[4:-4]
        return f"best Min-K%++ AUC ({attack})" if attack.startswith("min_k_pp") else f"MIA AUC ({attack})"
    return path
