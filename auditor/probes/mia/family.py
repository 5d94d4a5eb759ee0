"""The ``mia`` family: every configured attack on members vs non-members at one point (one forward pass per
text plus the extra passes some attacks need; see :mod:`auditor.probes.mia.runner`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.errors import ConfigError
from auditor.family import FamilyContext, lab_file
from auditor.inputs.data import TextSet, load_texts
from auditor.probes.mia import DEFAULT_ATTACKS
from auditor.probes.mia.blind import blind_records, blind_scores
from auditor.probes.mia.config import MIAConfig, expand_attacks
from auditor.probes.mia.figures import MIA_FIGURES, mia_tree
from auditor.probes.mia.runner import mia_records, score_members
from auditor.store.runs import Record

HEADLINE_ATTACKS: tuple[str, ...] = DEFAULT_ATTACKS
MIASection = MIAConfig  # the YAML section ``mia:`` is the probe's one config


RECALL_PREFIX = "non-members used as the ReCaLL prefix"  # the texts given but not scored, when ReCaLL runs


@dataclass(frozen=True)
class MIAData:
    """What the family scores: the two sets, the settings, the blind baseline's scores and a reference model."""

    members: TextSet
    nonmembers: TextSet
    config: MIAConfig
    blind: np.ndarray | None = None  # out-of-fold blind-baseline scores, members first (computed before loading)
    reference: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None  # the 'reference' attack's model


class MIAFamily:
    """Family ``mia`` (Yeom et al. 2018; Carlini et al. 2021; Shi et al. 2024; Zhang et al. 2024; Xie et al. 2024)."""

    name = "mia"
    section = "mia"
    needs = frozenset({"loglik", "members", "nonmembers"})
    samples = "mia_scores"
    figures = MIA_FIGURES

    def tree(self, rows: list[dict], all_rows: list[dict]) -> dict:
        return {"mia": mia_tree(rows)}

    def prepare(self, sections: object, lab: Path | None) -> MIAData:
        s: MIAConfig = sections.mia  # type: ignore[attr-defined]
        expand_attacks(s.attacks, False)
        if s.seed:
            raise ConfigError(f"mia.seed: {s.seed} is not used here: the run's seed is the bootstrap's; set seed: N")
        members = load_texts(
            lab_file(s.members, lab, "members.jsonl", "mia.members"), s.text_column, s.id_column, limit=s.limit
        )
        path = lab_file(s.nonmembers, lab, "nonmembers.jsonl", "mia.nonmembers")
        nonmembers = load_texts(path, s.text_column, s.id_column, limit=s.limit)
        blind = blind_scores(members.texts, nonmembers.texts) if s.blind_on() else None
        return MIAData(members, nonmembers, s, blind)

    def run(self, ctx: FamilyContext, data: MIAData) -> list[Record]:
        size = data.config.batch_size if data.config.batch_size is not None else ctx.batch_size
        cfg = replace(data.config, batch_size=size, seed=ctx.seed)
        ref_model, ref_tok = data.reference or (None, None)
        rows, variants, _ = score_members(
            ctx.model,
            ctx.tokenizer,
            data.members,
            data.nonmembers,
            ctx.samples(self.samples),
            cfg,
            reference_model=ref_model,
            reference_tokenizer=ref_tok,
        )
        given = len(data.members) + len(data.nonmembers)  # every text given is scored, or was the ReCaLL prefix
        skipped = {RECALL_PREFIX: given - len(rows)} if given > len(rows) else {}
        result, records = mia_records(rows, variants, cfg, ctx.tags, skipped)
        if data.blind is not None:
            aucs = {a: r["auc"] for a, r in result.items()}
            records += blind_records(
                data.blind,
                len(data.members),
                aucs,
                threshold=cfg.blind_threshold,
                n_boot=cfg.n_boot,
                seed=cfg.seed,
                tags=ctx.tags,
            )
        return records
