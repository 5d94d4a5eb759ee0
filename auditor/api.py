"""The Python API: the CLI's commands as functions that take an already-loaded model and plain data.

    import auditor
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained("my/checkpoint")
    tok = AutoTokenizer.from_pretrained("my/checkpoint")
    res = auditor.mia(model, tok, members=["..."], nonmembers=["..."], out="reports/mia")
    run = auditor.sweep(model, tok, families=["mia", "extraction", "fact_recall"], methods=["magnitude"],
                        sparsities=[0.2, 0.5], out="reports/sweep",
                        config={"mia": {"members": "m.jsonl", "nonmembers": "n.jsonl"},
                                "extraction": {"data": "m.jsonl"}, "capability": {"source": "real"}})

Every function writes a resumable run directory (``out``) and runs through the same loop as the CLI.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from auditor.config import apply_overrides, build
from auditor.data import TextSet
from auditor.identity import texts_digest
from auditor.models import LoadedModel, weights_fingerprint
from auditor.pipeline.audit import AuditConfig, run_audit
from auditor.pipeline.runid import loaded_identity
from auditor.pipeline.sweep import SweepConfig, run_sweep
from auditor.probes.extraction import ExtractionConfig, run_extraction
from auditor.probes.mia.runner import MIAConfig, run_mia
from auditor.runs import RunDir


def wrap(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str = "model") -> LoadedModel:
    """A loaded ``PreTrainedModel`` + tokenizer as the pipeline's ``LoadedModel`` (eval mode, pad token set)."""
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    path = str(getattr(model, "name_or_path", "") or name)
    return LoadedModel(model, tokenizer, source=name, resolved=path, fingerprint=weights_fingerprint(model))


def _texts(texts: Sequence[str] | TextSet, source: str) -> TextSet:
    if isinstance(texts, TextSet):
        return texts
    return TextSet([str(i) for i in range(len(texts))], list(texts), source)


def _identity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *sets: TextSet) -> dict:
    """What an API run's results depend on: the texts (ids and content), the weights, dtype and device."""
    ident = loaded_identity(wrap(model, tokenizer))
    for i, s in enumerate(sets):
        ident[f"texts.{i}"] = texts_digest([*s.ids, *s.texts])
    return ident


def _out(out: str | Path | None) -> Path:
    return Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="memaudit-"))


def mia(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, members: Sequence[str] | TextSet,
        nonmembers: Sequence[str] | TextSet, *, attacks: Sequence[str] = ("loss", "zlib", "min_k@0.2", "min_k_pp@0.2"),
        out: str | Path | None = None, **options: object) -> dict:  # fmt: skip
    """Membership inference on plain lists of texts; returns ``{attack: {auc, auc_ci, tpr@1%fpr, ...}}``."""
    cfg = MIAConfig(attacks=tuple(attacks), **options)  # type: ignore[arg-type]
    members, nonmembers = _texts(members, "members"), _texts(nonmembers, "nonmembers")
    run = RunDir(_out(out), {"api": "mia", "config": cfg.__dict__}, identity=_identity(model, tokenizer, members,
                 nonmembers))  # fmt: skip
    return run_mia(model, tokenizer, members, nonmembers, run, cfg)


def extract(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str] | TextSet, *,
            prefix_lens: Sequence[int] = (32,), suffix_len: int = 32, out: str | Path | None = None,
            **options: object) -> dict:  # fmt: skip
    """Discoverable extraction of plain texts; returns the aggregates (``exact_extraction_rate@K``, ...)."""
    cfg = ExtractionConfig(prefix_lens=tuple(prefix_lens), suffix_len=suffix_len, **options)  # type: ignore[arg-type]
    texts = _texts(texts, "texts")
    run = RunDir(_out(out), {"api": "extract", "config": cfg.__dict__}, identity=_identity(model, tokenizer, texts))
    return run_extraction(model, tokenizer, texts, run, cfg)


def sweep(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, families: Sequence[str],
          methods: Sequence[str] = ("magnitude", "wanda"), sparsities: Sequence[float] = (0.2, 0.4, 0.6),
          out: str | Path = "reports/sweep", config: dict | None = None, overrides: Sequence[str] = (),
          name: str = "model") -> Path:  # fmt: skip
    """A pruning sweep of a loaded model (keys of ``config`` as in the sweep YAML); returns the run directory."""
    data = {**(config or {}), "model": name, "out": str(out), "families": list(families), "methods": list(methods),
            "sparsities": list(sparsities)}  # fmt: skip
    cfg = build(SweepConfig, apply_overrides(data, list(overrides)))
    return run_sweep(cfg, loaded=wrap(model, tokenizer, name))


def audit(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: dict, *,
          overrides: Sequence[str] = (), name: str = "candidate") -> Path:  # fmt: skip
    """A release audit of a loaded candidate (``config`` as the audit YAML; ``model`` there is its label only)."""
    data = {"model": name, **config}
    cfg = build(AuditConfig, apply_overrides(data, list(overrides)))
    return run_audit(cfg, loaded=wrap(model, tokenizer, name))
