"""The lab's figures, from fast batched teacher-forced passes over its ground-truth files."""

from __future__ import annotations

from collections import defaultdict

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.lm.scoring import greedy_answer_match, mean_nll
from auditor.stats.metrics import auc
from auditor.store.runs import Record

# The bars the shipped standard lab must meet (issue: foundation, "Synthetic lab").
STANDARD_TARGETS: dict[str, tuple[str, float]] = {
    "fact_recall": (">=", 0.9),
    "open_book": (">=", 0.8),
    "overriding": (">=", 0.7),
    "icl_classification": (">=", 0.8),
    "loss_auc": (">=", 0.9),
    "canary_exact@>=64": (">=", 0.8),
    "canary_exact@1": ("<=", 0.1),
}


def _accuracy(model, tok, items: list[dict], batch_size: int) -> float:
    hits = greedy_answer_match(model, tok, [x["prompt"] for x in items], [x["answer"] for x in items], batch_size)
    return sum(hits) / max(1, len(hits))


def lab_figures(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, files: dict[str, list[dict]], batch_size: int = 64
) -> dict:
    """Fact recall, context QA, ICL and canary extraction (greedy), and the LOSS member AUC."""
    figs: dict = {}
    for name in ("facts", "open_book", "overriding", "icl_classification"):
        key = "fact_recall" if name == "facts" else name
        figs[key] = round(_accuracy(model, tokenizer, files[name], batch_size), 4)
    over = files["overriding"]
    mem_hits = greedy_answer_match(
        model, tokenizer, [x["prompt"] for x in over], [x["memorized_answer"] for x in over], batch_size
    )
    figs["overriding_answered_memorized"] = round(sum(mem_hits) / max(1, len(mem_hits)), 4)
    nll_m = mean_nll(model, tokenizer, [x["text"] for x in files["members"]], batch_size)
    nll_n = mean_nll(model, tokenizer, [x["text"] for x in files["nonmembers"]], batch_size)
    figs["loss_auc"] = round(auc([-v for v in nll_m], [-v for v in nll_n]), 4)
    figs["member_mean_nll"] = round(sum(nll_m) / len(nll_m), 4)
    figs["nonmember_mean_nll"] = round(sum(nll_n) / len(nll_n), 4)
    can = files["canaries"]
    hits = greedy_answer_match(model, tokenizer, [c["prefix"] for c in can], [c["secret"] for c in can], batch_size)
    by: dict[int, list[bool]] = defaultdict(list)
    for c, h in zip(can, hits, strict=True):
        by[int(c["repeats"])].append(h)
    figs["canary_exact_by_repeats"] = {str(k): round(sum(v) / len(v), 4) for k, v in sorted(by.items())}
    big = [h for k, v in by.items() if k >= 64 for h in v]
    figs["canary_exact@>=64"] = round(sum(big) / len(big), 4) if big else None
    figs["canary_exact@1"] = figs["canary_exact_by_repeats"].get("1")
    return figs


def check_targets(figs: dict, targets: dict[str, tuple[str, float]] = STANDARD_TARGETS) -> dict[str, bool]:
    """Which of the standard lab's bars ``figs`` meets."""
    out = {}
    for key, (op, bar) in targets.items():
        v = figs.get(key)
        out[key] = v is not None and (v >= bar if op == ">=" else v <= bar)
    return out


def lab_records(figs: dict, n: dict[str, int], tags: dict | None = None) -> list[Record]:
    """The figures as records, in the design's families: fact_recall, icl, extraction, mia."""
    tags = tags or {}
    out = [Record("fact_recall", "lab_facts", "accuracy", figs["fact_recall"], n=n["facts"], **tags)]
    for key in ("open_book", "overriding", "icl_classification"):
        out.append(Record("icl", key, "accuracy", figs[key], n=n[key], **tags))
    for reps, v in figs["canary_exact_by_repeats"].items():
        out.append(Record("extraction", f"canaries@repeats={reps}", "exact_extraction_rate", v, **tags))
    out.append(Record("mia", "lab_loss", "auc", figs["loss_auc"], **tags))
    return out
