"""Membership-inference attacks on members vs non-members at one point: scores in resumable units, then metrics.

Texts are processed in units of ``unit_size``; each unit gets one forward pass of the target model (plus the
extra passes the chosen attacks need), and every attack's per-text score is appended to the samples log
(``samples/mia_scores.jsonl``) as the unit completes (:func:`auditor.probes.units.run_units`), so a killed run
resumes at the first unscored unit. Metrics (AUC with a bootstrap CI, TPR at 1% and 0.1% FPR, best-threshold
accuracy) and their records come from the saved scores.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.tokenstats import compute_token_stats
from auditor.probes.mia.base import ATTACKS, AttackInputs, metric_records
from auditor.probes.mia.config import MIAConfig, expand_attacks
from auditor.probes.units import Unit, run_units
from auditor.stats.metrics import membership_metrics_many
from auditor.store.runs import Record, SampleLog

log = logging.getLogger(__name__)

__all__ = ["MIAConfig", "expand_attacks", "mia_records", "score_members", "score_texts"]


def check_same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase) -> None:
    if a.get_vocab() != b.get_vocab():
        raise ConfigError(
            "the reference model's tokenizer differs from the target's; the reference attack compares "
            "per-token likelihoods, so pick a reference model with the same tokenizer"
        )


def chunks(items: list, size: int) -> list[list]:
    """``items`` cut into consecutive lists of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _unit_key(ids: list[str]) -> str:
    return "mia-unit-" + hashlib.sha256("\x00".join(ids).encode()).hexdigest()[:16]


def score_texts(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    variants: list[tuple[str, str, dict]],
    config: MIAConfig,
    *,
    reference_model: PreTrainedModel | None = None,
    recall_prefix: list[int] | None = None,
) -> tuple[dict[str, np.ndarray], list[bool]]:
    """Every variant's score for every text, from one target pass plus the passes attacks need, and which
    texts were cut to ``max_tokens``."""
    needs = {n for _, base, _ in variants for n in ATTACKS.get(base).needs}
    kw = {"batch_size": config.batch_size, "max_tokens": config.max_tokens}
    inputs = AttackInputs(target=compute_token_stats(model, tokenizer, texts, **kw))
    if "lowercase" in needs:
        inputs.lowercase = compute_token_stats(model, tokenizer, [t.lower() for t in texts], **kw)
    if "reference" in needs:
        assert reference_model is not None
        inputs.reference = compute_token_stats(reference_model, tokenizer, texts, **kw)
    if "recall" in needs:
        inputs.recall = compute_token_stats(model, tokenizer, texts, prefix_ids=recall_prefix, **kw)
    scores = {name: ATTACKS.get(base).score(inputs, **params) for name, base, params in variants}
    return scores, inputs.target.cut


def _uses_recall(variants: list[tuple[str, str, dict]]) -> bool:
    return any(base == "recall" for _, base, _ in variants)


def _recall_prefix(
    tokenizer: PreTrainedTokenizerBase, non: list[tuple[str, str]], config: MIAConfig
) -> tuple[list[int], list[tuple[str, str]]]:
    """ReCaLL's prefix (the first ``recall_shots`` non-members' tokens) and the non-members left to score."""
    shots = min(config.recall_shots, len(non) - 1)
    if shots < 1:
        raise InputError("ReCaLL needs at least 2 non-members (one for the prefix); drop 'recall' or add texts")
    prefix = tokenizer(" ".join(t for _, t in non[:shots]), add_special_tokens=False)["input_ids"]
    log.info("ReCaLL prefix: the first %d non-members (%d tokens), left out of scoring", shots, len(prefix))
    return prefix, non[shots:]


def score_members(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: TextSet,
    nonmembers: TextSet,
    samples: SampleLog,
    config: MIAConfig | None = None,
    *,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
) -> tuple[list[dict], list[tuple[str, str, dict]], int]:
    """Score every text with every attack, in resumable units of ``samples``.

    Returns (rows, variants, how many of the rows' texts were cut to ``max_tokens``), counted from the
    rows themselves, so a resumed run counts the units of earlier invocations too."""
    config = config or MIAConfig()
    if len(members) == 0 or len(nonmembers) == 0:
        which = "members" if len(members) == 0 else "non-members"
        raise InputError(f"no {which}: membership inference needs texts of both classes")
    if config.max_tokens is not None and config.max_tokens < 2:
        raise ConfigError(f"--max-tokens must be at least 2, got {config.max_tokens}")
    variants = expand_attacks(config.attacks, reference_model is not None)
    if reference_model is not None and reference_tokenizer is not None:
        check_same_tokenizer(tokenizer, reference_tokenizer)
    items = [(i, t, 1) for i, t in zip(members.ids, members.texts, strict=True)]
    non = list(zip(nonmembers.ids, nonmembers.texts, strict=True))
    recall_prefix, non = _recall_prefix(tokenizer, non, config) if _uses_recall(variants) else (None, non)
    items += [(i, t, 0) for i, t in non]

    def rows_of(part: list[tuple[str, str, int]]) -> list[dict]:
        texts = [t for _, t, _ in part]
        kw = {"reference_model": reference_model, "recall_prefix": recall_prefix}
        scores, cut = score_texts(model, tokenizer, texts, variants, config, **kw)
        return [
            {"id": i, "label": lab, "scores": {a: float(v[j]) for a, v in scores.items()}, "truncated": cut[j]}
            for j, (i, _, lab) in enumerate(part)
        ]

    units = [Unit(_unit_key([f"{lab}:{i}" for i, _, lab in unit]), unit) for unit in chunks(items, config.unit_size)]
    run_units(samples, units, rows_of, desc="MIA scoring", unit="text", logger=log)
    wanted = {(i, lab) for i, _, lab in items}
    rows = [r for r in samples.rows() if (r["id"], r["label"]) in wanted]
    return rows, variants, sum(bool(r.get("truncated")) for r in rows)  # every unit's, resumed ones included


def mia_records(
    rows: list[dict],
    variants: list[tuple[str, str, dict]],
    config: MIAConfig,
    tags: dict,
    skipped: dict[str, int] | None = None,
) -> tuple[dict[str, dict], list[Record]]:
    """Metrics per attack from the scored rows, and their records (family ``mia``); ``skipped``: the texts given
    but left out of the scoring, by reason (``n`` + their sum = the texts given)."""
    labels = np.array([r["label"] for r in rows])
    scores = [np.array([r["scores"][attack] for r in rows]) for attack, _, _ in variants]
    # one split, one set of bootstrap resamples for every attack, and a low-n TPR@FPR warning once
    figures = membership_metrics_many([(s[labels == 1], s[labels == 0]) for s in scores], config.n_boot, config.seed)
    result: dict[str, dict] = {}
    records = []
    for (attack, _, _), res in zip(variants, figures, strict=True):
        result[attack] = res
        records += metric_records(attack, res, {}, tags, skipped)
    return result, records
