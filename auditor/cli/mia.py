"""``auditor mia``: membership inference, every attack scored from one batched forward pass."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING

from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_data_columns,
    add_model_args,
    batch_size_arg,
    int_at_least,
    model_spec,
    nonneg_int,
    open_run,
    positive_int,
)
from auditor.data import load_texts
from auditor.errors import ConfigError, InputError
from auditor.probes.mia import DEFAULT_ATTACKS

if TYPE_CHECKING:
    from auditor.probes.mia.runner import MIAConfig


def _mia_config(a: argparse.Namespace) -> MIAConfig:
    """The MIAConfig from the flags; bad attack names and sizes fail here, before any model is loaded."""
    from auditor.probes.mia.runner import MIAConfig, expand_attacks

    attacks = tuple(x.strip() for x in a.attacks.split(",") if x.strip())
    if not attacks:
        raise ConfigError("--attacks is empty; name at least one attack")
    if a.max_tokens is not None and a.max_tokens < 2:
        raise ConfigError(f"--max-tokens must be at least 2, got {a.max_tokens}")
    expand_attacks(attacks, a.reference_model is not None)
    return MIAConfig(
        attacks=attacks, batch_size=batch_size_arg(a.batch_size), max_tokens=a.max_tokens, n_boot=a.n_boot, seed=a.seed
    )


def cmd_mia(a: argparse.Namespace) -> int:
    from auditor.models import load_model
    from auditor.probes.mia.runner import expand_attacks, run_mia

    cfg = _mia_config(a)
    members = load_texts(a.members, a.text_column, a.id_column)
    nonmembers = load_texts(a.nonmembers, a.text_column, a.id_column)
    if "recall" in {base for _, base, _ in expand_attacks(cfg.attacks, True)} and len(nonmembers) < 2:
        raise InputError(f"ReCaLL needs at least 2 non-members (one for the prefix), {a.nonmembers} has 1; "
                         "drop 'recall' from --attacks or add texts")  # fmt: skip
    config = {
        "command": "mia",
        "model": a.model,
        "members": a.members,
        "nonmembers": a.nonmembers,
        "reference_model": a.reference_model,
        "mia": asdict(cfg),
        "columns": [a.text_column, a.id_column],
        "blind": a.blind,
    }
    run = open_run(a, config, {"model": a.model, "reference": a.reference_model}, seeds={"bootstrap": a.seed})
    lm = load_model(model_spec(a, a.model))
    ref = load_model(model_spec(a, a.reference_model)) if a.reference_model else None
    run.update_manifest(checkpoint=lm.describe(), reference=ref.describe() if ref else None)
    result = run_mia(
        lm.model,
        lm.tokenizer,
        members,
        nonmembers,
        run,
        cfg,
        reference_model=ref.model if ref else None,
        reference_tokenizer=ref.tokenizer if ref else None,
        blind=a.blind,
    )
    print(f"{'attack':<16} {'AUC [95% CI]':>22} {'TPR@1% FPR [95% CI]':>24} {'TPR@0.1% FPR [95% CI]':>24}")
    low_n: set[str] = set()
    for name, r in result.items():
        cells = [_with_ci(r["auc"], r.get("auc_ci"))]
        for key in ("tpr@1%fpr", "tpr@0.1%fpr"):
            star = "*" if r.get(f"{key}_low_n") else " "
            low_n |= {key} if star == "*" else set()
            cells.append(_with_ci(r[key], r.get(f"{key}_ci")) + star)
        print(f"{name:<16} {cells[0]:>22} {cells[1]:>24} {cells[2]:>24}")
    for key in sorted(low_n):
        n = next(r["n_nonmembers"] for r in result.values() if r.get(f"{key}_low_n"))
        print(f"* {key}: {n} non-members are fewer than 1/FPR, so this is the TPR at zero false positives")
    blind = result.get("blind_baseline")
    if blind and blind.get("shifted"):
        print(f"SHIFTED SPLIT: the blind baseline, which never sees the model, separates members from non-members "
              f"with AUC {blind['auc']:.3f}; the attack AUCs above measure the difference between the two sets, "
              "not memorization (Das et al. 2024). Use members and non-members from one distribution.")  # fmt: skip
    print(f"wrote {run.path / 'mia.json'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "mia",
        cmd_mia,
        help="membership inference: score members vs non-members with every attack from one pass",
        description="Scores every text with LOSS, zlib, lowercase, Min-K%, Min-K%++, ReCaLL (and reference, "
        "given --reference-model) from one batched forward pass, and reports AUC with a bootstrap CI, "
        "TPR at 1% and 0.1% FPR. Writes RUN/mia.json, RUN/samples/mia_scores.jsonl, RUN/records.jsonl, "
        "RUN/mia_roc.png. Rerunning the same command resumes.",
    )
    p.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    p.add_argument("--members", required=True, help="texts that were trained on (jsonl/csv/parquet/txt/HF dir)")
    p.add_argument("--nonmembers", required=True, help="texts that were not")
    p.add_argument(
        "--attacks",
        default=",".join(DEFAULT_ATTACKS),
        help="comma-separated; min_k / min_k_pp mean their k grid, min_k@0.2 one k",
    )
    p.add_argument("--reference-model", help="reference model for the 'reference' attack (same tokenizer)")
    p.add_argument(
        "--max-tokens", type=int_at_least(2), help="truncate texts to N tokens (default: the model's context)"
    )
    add_batch_size(p, what="texts per forward pass")
    add_data_columns(p)
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples for the AUC CI")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed of the bootstrap")
    p.add_argument(
        "--blind",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score the model-free blind baseline (Das et al. 2024): if it separates the two sets as well "
        "as the attacks, the split is shifted and the attack AUCs measure it, not memorization",
    )
    p.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    p.add_argument("--overwrite", action="store_true", help="start the run directory again")
    add_model_args(p)


def _with_ci(value: float, ci: list[float] | None) -> str:
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
