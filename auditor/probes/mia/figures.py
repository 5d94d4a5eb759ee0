"""What the ``mia`` family's figures mean, and its part of a point's figures tree (``mia.<attack>.<metric>``).

AUC and TPR at low FPR per attack (Carlini et al. 2022, "Membership Inference Attacks From First Principles":
report the TPR at a low FPR, not only the AUC), each with its bootstrap CI (None with ``<metric>_ci_note`` below
5 members or non-members: :func:`auditor.stats.intervals.membership_ci`), ``n`` (members + non-members) and
the class sizes; a TPR at an FPR below 1 / #non-members is flagged ``<metric>_low_n``.
"""

from __future__ import annotations

from auditor.family import Figure
from auditor.store.record_tree import put

MIA_FIGURES: tuple[Figure, ...] = (
    Figure("mia.loss.auc", "0.5 = the attack cannot tell training members from non-members; 1.0 = it always can.",
           headline=True, name="MIA LOSS AUC", unit="texts"),
    Figure("mia.blind_baseline.auc", "A classifier that sees only the texts, never the model (Das et al. 2024): "
           "above 0.6 the member and non-member sets differ by topic or date, and the attacks measure that split.",
           name="blind baseline AUC (no model)", unit="texts"),
    Figure("mia.blind_baseline.shifted", "1 when the blind baseline flags the split as shifted, else 0.",
           name="shifted split", unit="texts"),
    Figure("mia.<attack>.auc", "0.5 = the attack cannot tell training members from non-members; 1.0 = it always can.",
           headline=True, name="MIA AUC ({attack})", unit="texts"),
    Figure("mia.<attack>.tpr@<fpr>%fpr", "Share of training members caught while wrongly flagging {fpr}% of "
           "non-members (needs at least 1/FPR non-members to measure).", name="TPR at {fpr}% FPR ({attack})",
           unit="texts"),
    Figure("mia.<attack>.accuracy", "Best accuracy of a threshold on the attack's score (0.5 = chance).",
           name="MIA accuracy ({attack})", unit="texts"),
    Figure("mia.<attack>.n_members", "Member texts scored.", better="higher", range=None, unit="texts"),
    Figure("mia.<attack>.n_nonmembers", "Non-member texts scored.", better="higher", range=None, unit="texts"),
)  # fmt: skip


def mia_tree(rows: list[dict]) -> dict:
    """``{attack: {metric, metric_ci, metric_n, n_members, n_nonmembers, metric_low_n, metric_ci_note}}``
    (``metric_ci_note`` only where the interval is not estimable or came from the bootstrap's fallback)."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["task"], {})
        put(entry, r["metric"], r)
        extra = r.get("extra") or {}
        for key in ("n_members", "n_nonmembers"):
            if key in extra:
                entry[key] = extra[key]
        if "low_n" in extra:  # a TPR@FPR on fewer than 1/FPR non-members
            entry[f"{r['metric']}_low_n"] = bool(extra["low_n"])
        if extra.get("ci_note"):  # why the interval is None (or the bootstrap's fallback)
            entry[f"{r['metric']}_ci_note"] = str(extra["ci_note"])
    return out
