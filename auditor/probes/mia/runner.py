"""Run membership-inference attacks on members vs non-members: scores, metrics, outputs, resume.

Texts are processed in units of ``unit_size``; each unit gets one forward pass of the target model
(plus the extra passes the chosen attacks need), and every attack's per-text score is appended to
``samples/mia_scores.jsonl`` as the unit completes. A killed run resumes at the first unscored unit.
Metrics (AUC with a bootstrap CI, TPR at 1% and 0.1% FPR, best-threshold accuracy) are computed
from the saved scores at the end and written to ``mia.json`` and ``records.jsonl``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

import auditor.store.progress as progress
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import TextSet
from auditor.lm.tokenstats import compute_token_stats
from auditor.models.parallel import shard_map

# Importing the attack modules registers them.
from auditor.probes.mia import DEFAULT_ATTACKS, loss, min_k, min_k_pp, recall, reference, zlib_ratio  # noqa: F401
from auditor.probes.mia.base import ATTACKS, AttackInputs, metric_records
from auditor.probes.mia.blind import BLIND, blind_records, blind_scores
from auditor.stats.metrics import membership_metrics_many
from auditor.store.record_tree import mia_tree
from auditor.store.runs import Record, RunDir, SampleLog, atomic_write_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MIAConfig:
    """Settings of an MIA run."""

    attacks: tuple[str, ...] = DEFAULT_ATTACKS  # names; "min_k" = the whole grid, "min_k@0.2" = one k
    batch_size: int | None = None  # texts per forward pass; None: auto (16 on CPU, 64 on GPU, halved on OOM)
    max_tokens: int | None = None  # truncate texts to this many tokens (default: the model's context)
    unit_size: int = 256  # texts per resumable unit
    n_boot: int = 1000  # bootstrap resamples for the AUC CI
    seed: int = 0  # bootstrap seed
    recall_shots: int = 3  # non-member texts joined into the ReCaLL prefix (and left out of scoring)

    def __post_init__(self) -> None:
        checks = (("n_boot", self.n_boot, 1), ("seed", self.seed, 0), ("unit_size", self.unit_size, 1),
                  ("recall_shots", self.recall_shots, 1))  # fmt: skip
        for name, value, low in checks:
            if not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
        if self.max_tokens is not None and self.max_tokens < 2:
            raise ConfigError(f"max_tokens must be at least 2 tokens, got {self.max_tokens}")


def expand_attacks(names: tuple[str, ...] | list[str], has_reference: bool) -> list[tuple[str, str, dict]]:
    """(variant name, attack name, kwargs) for each requested attack; validates names and k values."""
    out: list[tuple[str, str, dict]] = []
    for raw in names:
        base, _, val = raw.partition("@")
        attack = ATTACKS.get(base)
        if "reference" in attack.needs and not has_reference:
            raise ConfigError("the 'reference' attack needs --reference-model")
        if val:
            if not attack.param:
                raise ConfigError(f"attack {base!r} takes no parameter; use {base!r}")
            try:
                k = float(val)
            except ValueError as e:
                raise ConfigError(f"{raw!r}: {val!r} is not a number") from e
            if not 0 < k <= 1:
                raise ConfigError(f"{raw!r}: k must be in (0, 1]")
            out.append((f"{base}@{k:g}", base, {attack.param: k}))
        else:
            out.extend((v, base, kw) for v, kw in attack.variants())
    seen: set[str] = set()
    return [x for x in out if not (x[0] in seen or seen.add(x[0]))]


def check_same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase) -> None:
    if a.get_vocab() != b.get_vocab():
        raise ConfigError(
            "the reference model's tokenizer differs from the target's; the reference attack compares "
            "per-token likelihoods, so pick a reference model with the same tokenizer"
        )


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


def score_members(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: TextSet,
    nonmembers: TextSet,
    samples: SampleLog,
    config: MIAConfig = MIAConfig(),
    *,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
) -> tuple[list[dict], list[tuple[str, str, dict]], int]:
    """Score every text with every attack, in resumable units of ``samples``.

    Returns (rows, variants, how many of the rows' texts were cut to ``max_tokens``), counted from the
    rows themselves, so a resumed run counts the units of earlier invocations too."""
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
    recall_prefix = None
    if any(base == "recall" for _, base, _ in variants):
        shots = min(config.recall_shots, len(non) - 1)
        if shots < 1:
            raise InputError("ReCaLL needs at least 2 non-members (one for the prefix); drop 'recall' or add texts")
        prefix_text = " ".join(t for _, t in non[:shots])
        recall_prefix = tokenizer(prefix_text, add_special_tokens=False)["input_ids"]
        non = non[shots:]
        log.info("ReCaLL prefix: the first %d non-members (%d tokens), left out of scoring", shots, len(recall_prefix))
    items += [(i, t, 0) for i, t in non]

    def rows_of(part: list[tuple[str, str, int]]) -> list[dict]:
        scores, cut = score_texts(model, tokenizer, [t for _, t, _ in part], variants, config,
                                  reference_model=reference_model, recall_prefix=recall_prefix)  # fmt: skip
        return [
            {"id": i, "label": lab, "scores": {a: float(v[j]) for a, v in scores.items()}, "truncated": cut[j]}
            for j, (i, _, lab) in enumerate(part)
        ]

    with progress.bar(len(items), "MIA scoring", unit="text", logger=log) as p:
        for start in range(0, len(items), config.unit_size):
            unit = items[start : start + config.unit_size]
            key = _unit_key([f"{lab}:{i}" for i, _, lab in unit])
            if samples.has(key):
                p.skip(len(unit))
                continue
            samples.append(key, shard_map(unit, rows_of))  # data parallel: each process scores a share
            p.update(len(unit))
    wanted = {(i, lab) for i, _, lab in items}
    rows = [r for r in samples.rows() if (r["id"], r["label"]) in wanted]
    return rows, variants, sum(bool(r.get("truncated")) for r in rows)  # every unit's, resumed ones included


def mia_records(
    rows: list[dict], variants: list[tuple[str, str, dict]], config: MIAConfig, tags: dict
) -> tuple[dict[str, dict], list[Record]]:
    """Metrics per attack from the scored rows, and their records (family ``mia``)."""
    labels = np.array([r["label"] for r in rows])
    scores = [np.array([r["scores"][attack] for r in rows]) for attack, _, _ in variants]
    # one split, one set of bootstrap resamples for every attack, and a low-n TPR@FPR warning once
    figures = membership_metrics_many([(s[labels == 1], s[labels == 0]) for s in scores], config.n_boot, config.seed)
    result: dict[str, dict] = {}
    records = []
    for (attack, _, _), res in zip(variants, figures, strict=True):
        result[attack] = res
        records += metric_records(attack, res, {}, tags)
    return result, records


def run_mia(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    members: TextSet,
    nonmembers: TextSet,
    run: RunDir,
    config: MIAConfig = MIAConfig(),
    *,
    reference_model: PreTrainedModel | None = None,
    reference_tokenizer: PreTrainedTokenizerBase | None = None,
    record_tags: dict | None = None,
    name: str = "mia",
    blind: bool = False,
    blind_threshold: float = 0.6,
) -> dict:
    """Score, evaluate and write ``mia.json``, ``samples/mia_scores.jsonl`` and the records. The ROC figure is
    drawn by the caller that wants one (``auditor mia`` and the report, :func:`auditor.report.plots.plot_roc`),
    so a library call spends its time on the scores.

    ``blind``: also the model-free blind baseline (:mod:`auditor.probes.mia.blind`) beside the attacks."""
    rows, variants, truncated = score_members(
        model, tokenizer, members, nonmembers, run.samples(f"{name}_scores"), config,
        reference_model=reference_model, reference_tokenizer=reference_tokenizer,
    )  # fmt: skip
    result, records = mia_records(rows, variants, config, record_tags or {})
    if blind:
        scores = blind_scores(members.texts, nonmembers.texts, seed=config.seed)
        records += blind_records(scores, len(members), {a: r["auc"] for a, r in result.items()},
                                 threshold=blind_threshold, n_boot=config.n_boot, seed=config.seed,
                                 tags=record_tags or {})  # fmt: skip
    unit = f"{name}-metrics-" + hashlib.sha256(repr(sorted(asdict(config).items())).encode()).hexdigest()[:8]
    if not run.done(unit):
        run.write(unit, records)
    names = [v for v, _, _ in variants] + ([BLIND] if blind else [])
    mine = [r for r in run.all_records() if r["family"] == "mia" and r["task"] in names]
    result = mia_tree(mine)  # mia.json says what the records say, read as the report reads them
    atomic_write_json(run.path / f"{name}.json", result)
    if truncated or "mia_truncated_texts" in run.manifest:
        run.update_manifest(mia_truncated_texts=truncated)
    return result
