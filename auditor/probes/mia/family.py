"""The ``mia`` family: every configured attack on members vs non-members at one point (one forward pass per
text plus the extra passes some attacks need; see :mod:`auditor.probes.mia.runner`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from auditor.errors import ConfigError
from auditor.family import FamilyContext, lab_file
from auditor.inputs.data import TextSet, load_texts
from auditor.probes.mia.blind import blind_records, blind_scores
from auditor.probes.mia.runner import MIAConfig, expand_attacks, mia_records, score_members
from auditor.store.runs import Record

HEADLINE_ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2")


@dataclass(frozen=True)
class MIASection:
    """Membership inference: member and non-member texts (default: the lab's) and attacks."""

    enabled: bool = True
    members: str | None = None
    nonmembers: str | None = None
    attacks: tuple[str, ...] = HEADLINE_ATTACKS
    limit: int | None = None  # at most this many texts of each class
    n_boot: int = 1000  # bootstrap resamples for the AUC CI
    max_tokens: int | None = None  # truncate texts to this many tokens (default: the model's context)
    text_column: str = "text"
    id_column: str = "id"
    top_texts: int = 5  # highest-scoring member texts shown in the report
    # The model-free classifier of member vs non-member (Das et al. 2024) beside every attack; default: on
    # when the split is the user's (members/nonmembers given), off for the lab's random split.
    blind: bool | None = None
    blind_threshold: float = 0.6  # a blind AUC at or above this (or the best attack's) flags the split shifted

    def __post_init__(self) -> None:
        expand_attacks(self.attacks, True)
        if self.n_boot < 1:
            raise ConfigError(f"n_boot: must be at least 1, got {self.n_boot}")
        if not 0.5 <= self.blind_threshold <= 1:
            raise ConfigError(f"blind_threshold: must be in [0.5, 1], got {self.blind_threshold}")

    def blind_on(self) -> bool:
        return self.blind if self.blind is not None else self.members is not None


@dataclass(frozen=True)
class MIAData:
    members: TextSet
    nonmembers: TextSet
    config: MIAConfig
    blind: np.ndarray | None = None  # out-of-fold blind-baseline scores, members first (computed before loading)
    blind_threshold: float = 0.6


class MIAFamily:
    """Family ``mia`` (Yeom et al. 2018; Carlini et al. 2021; Shi et al. 2024; Zhang et al. 2024; Xie et al. 2024)."""

    name = "mia"
    section = "mia"
    needs = frozenset({"loglik", "members", "nonmembers"})
    samples = "mia_scores"

    def prepare(self, sections: object, lab: Path | None) -> MIAData:
        s: MIASection = sections.mia  # type: ignore[attr-defined]
        expand_attacks(s.attacks, False)
        mpath = lab_file(s.members, lab, "members.jsonl", "mia.members")
        members = load_texts(mpath, s.text_column, s.id_column, limit=s.limit)
        nonmembers = load_texts(
            lab_file(s.nonmembers, lab, "nonmembers.jsonl", "mia.nonmembers"), s.text_column, s.id_column, limit=s.limit
        )
        cfg = MIAConfig(attacks=s.attacks, n_boot=s.n_boot, max_tokens=s.max_tokens)
        blind = blind_scores(members.texts, nonmembers.texts) if s.blind_on() else None
        return MIAData(members, nonmembers, cfg, blind, s.blind_threshold)

    def run(self, ctx: FamilyContext, data: MIAData) -> list[Record]:
        cfg = replace(data.config, batch_size=ctx.batch_size, seed=ctx.seed)
        rows, variants, _ = score_members(
            ctx.model, ctx.tokenizer, data.members, data.nonmembers, ctx.samples(self.samples), cfg
        )
        result, records = mia_records(rows, variants, cfg, ctx.tags)
        if data.blind is not None:
            aucs = {a: r["auc"] for a, r in result.items()}
            records += blind_records(data.blind, len(data.members), aucs, threshold=data.blind_threshold,
                                     n_boot=cfg.n_boot, seed=cfg.seed, tags=ctx.tags)  # fmt: skip
        return records
