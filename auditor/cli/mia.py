"""``auditor mia``: membership inference, every attack scored from one batched forward pass."""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, replace
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
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import load_texts
from auditor.inputs.overlap import drop_shared
from auditor.probes.mia import DEFAULT_ATTACKS
from auditor.stats.metrics import TPR_FPRS

if TYPE_CHECKING:
    from auditor.inputs.data import TextSet
    from auditor.probes.mia.config import MIAConfig
    from auditor.probes.mia.family import MIAData
    from auditor.store.runs import RunDir


def _mia_config(a: argparse.Namespace) -> MIAConfig:
    """The MIAConfig from the flags (the class the YAML section ``mia:`` builds); bad attack names and sizes fail
    here, before any model is loaded."""
    from auditor.probes.mia.config import MIAConfig, expand_attacks

    attacks = default_attacks(a.reference_model is not None) if a.attacks is None else parse_attacks(a.attacks)
    if not attacks:
        raise ConfigError("--attacks is empty; name at least one attack")
    if a.max_tokens is not None and a.max_tokens < 2:
        raise ConfigError(f"--max-tokens must be at least 2, got {a.max_tokens}")
    expand_attacks(attacks, a.reference_model is not None)
    return MIAConfig(
        members=a.members,
        nonmembers=a.nonmembers,
        attacks=attacks,
        limit=a.limit,
        n_boot=a.n_boot,
        max_tokens=a.max_tokens,
        text_column=a.text_column,
        id_column=a.id_column,
        blind=a.blind,
        batch_size=batch_size_arg(a.batch_size),
        seed=a.seed,
    )


def cmd_mia(a: argparse.Namespace) -> int:
    """Score members vs non-members at one point through the one loop; print the table, draw the ROC."""
    from auditor.models.load import load_model
    from auditor.pipeline.probe import run_probe
    from auditor.report.summary import write_summary

    cfg = _mia_config(a)
    members = load_texts(cfg.members, cfg.text_column, cfg.id_column, limit=cfg.limit)
    nonmembers = load_texts(cfg.nonmembers, cfg.text_column, cfg.id_column, limit=cfg.limit)
    members, nonmembers = drop_shared(members, nonmembers)  # before the model loads: same file, shared texts
    _check_recall(cfg, nonmembers, a.nonmembers)
    run = open_run(
        a, _run_config(a, cfg), {"model": a.model, "reference": a.reference_model}, seeds={"bootstrap": a.seed}
    )
    data = _mia_data(cfg, members, nonmembers)  # the blind baseline before the model loads
    lm = load_model(model_spec(a, a.model))
    ref = load_model(model_spec(a, a.reference_model)) if a.reference_model else None
    run.update_manifest(checkpoint=lm.describe(), reference=ref.describe() if ref else None)
    if ref is not None:
        data = replace(data, reference=(ref.model, ref.tokenizer))
    result = run_probe(lm, run, "mia", data, batch_size=cfg.batch_size, seed=cfg.seed)
    print_table(result, cfg.attacks)
    _draw_roc(run, list(result))
    _warn_shifted(result.get("blind_baseline"))
    write_summary(run.path, command="mia")
    print(f"wrote {run.path / 'mia.json'}")
    return 0


def _check_recall(cfg: MIAConfig, nonmembers: TextSet, path: str) -> None:
    from auditor.probes.mia.config import expand_attacks

    if "recall" in {base for _, base, _ in expand_attacks(cfg.attacks, True)} and len(nonmembers) < 2:
        raise InputError(
            f"ReCaLL needs at least 2 non-members (one for the prefix), {path} has 1; "
            "drop 'recall' from --attacks or add texts"
        )


def _run_config(a: argparse.Namespace, cfg: MIAConfig) -> dict:
    """What the run directory is keyed on (with the content of the files it names and the checkpoints): the
    config holds the member and non-member files, their columns, the limit and the blind baseline's switch."""
    return {"command": "mia", "model": a.model, "reference_model": a.reference_model, "mia": asdict(cfg)}


def _mia_data(cfg: MIAConfig, members: TextSet, nonmembers: TextSet) -> MIAData:
    """The ``mia`` family's data from the flags: the two sets, the settings and (``--blind``) the blind scores."""
    from auditor.probes.mia.blind import blind_scores
    from auditor.probes.mia.family import MIAData

    blind = blind_scores(members.texts, nonmembers.texts, seed=cfg.seed) if cfg.blind_on() else None
    return MIAData(members, nonmembers, cfg, blind)


def _warn_shifted(blind: dict | None) -> None:
    if blind and blind.get("shifted"):
        print(
            "SHIFTED SPLIT: the blind baseline, which never sees the model, separates members from non-members "
            f"with AUC {blind['auc']:.3f}; the attack AUCs above measure the difference between the two sets, "
            "not memorization (Das et al. 2024). Use members and non-members from one distribution."
        )


def _draw_roc(run: RunDir, attacks: list[str]) -> None:
    """``RUN/mia_roc.png``: every scored attack's ROC (log-log), from the saved scores, by the report's plotter."""
    from auditor.probes.mia.blind import BLIND
    from auditor.report.plots import plot_roc

    rows = run.samples("mia_scores").rows()
    plot_roc(rows, [a for a in attacks if a != BLIND], run.path / "mia_roc.png", "Membership inference ROC")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "mia",
        cmd_mia,
        help="membership inference: score members vs non-members with every attack from one pass",
        description="Scores every text with LOSS, zlib, Min-K% and Min-K%++ at k=0.2 (and reference, given "
        "--reference-model) from one batched forward pass, and reports AUC with a bootstrap CI, TPR at 1% and "
        "0.1% FPR (n/a with fewer than 1/FPR non-members). Opt-in with --attacks: lowercase, recall (ReCaLL; "
        "its prefix is the first non-members), and the k grids min_k / min_k_pp, whose best k is tuned on the "
        "evaluation data. Writes RUN/mia.json, RUN/samples/mia_scores.jsonl, RUN/records.jsonl, "
        "RUN/mia_roc.png, RUN/summary.json (docs/summary-schema.md). Rerunning the same command resumes.",
    )
    p.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    p.add_argument("--members", required=True, help="texts that were trained on (jsonl/csv/parquet/txt/HF dir)")
    p.add_argument("--nonmembers", required=True, help="texts that were not")
    p.add_argument(
        "--attacks",
        help=f"comma-separated (default: {','.join(DEFAULT_ATTACKS)}, plus reference with --reference-model); "
        "also lowercase, recall; min_k@0.2 is one k, min_k / min_k_pp their k grid (best k tuned on the "
        "evaluation data)",
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
    p.add_argument("--limit", type=positive_int, help="at most N members and N non-members (default: all)")


def parse_attacks(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def default_attacks(has_reference: bool) -> tuple[str, ...]:
    """:data:`DEFAULT_ATTACKS` (one fixed k each), plus ``reference`` when a reference model is given."""
    return DEFAULT_ATTACKS + (("reference",) if has_reference else ())


def tuned_picks(attacks: tuple[str, ...], result: dict) -> dict[str, str]:
    """``{variant: grid}``: the best-AUC k of every k grid run (``min_k``, ``min_k_pp`` named without ``@k``).

    Picking k on the same members and non-members it is scored on overstates the attack (the grid's best of
    several tries); Shi et al. 2024 and Zhang et al. 2024 fix k in advance (k = 0.2)."""
    from auditor.probes.mia.config import expand_attacks

    picks: dict[str, str] = {}
    for name in attacks:
        grid = [v for v, _, _ in expand_attacks([name], True) if v != name and v in result]
        if grid:
            picks[max(grid, key=lambda v: result[v]["auc"])] = name
    return picks


def tpr_cell(r: dict, key: str) -> str:
    """The TPR at ``key``'s FPR with its CI, or n/a with fewer than 1/FPR non-members (no false positive fits
    under the FPR: the figure would be the TPR at zero false positives)."""
    need = round(1 / TPR_FPRS[key])
    n = r.get("n_nonmembers")
    if r.get(f"{key}_low_n") or (isinstance(n, int) and n < need):
        return f"n/a (needs >= {need:,} non-members)"
    return _with_ci(r[key], r.get(f"{key}_ci"))


def print_table(result: dict, attacks: tuple[str, ...]) -> None:
    """One row per attack: AUC, TPR at 1% and 0.1% FPR, each with its 95% CI; a grid's best k marked."""
    picks = tuned_picks(attacks, result)
    keys = list(TPR_FPRS)
    print(f"{'attack':<18} {'AUC [95% CI]':>22} " + " ".join(f"{k.upper() + ' [95% CI]':>32}" for k in keys))
    for name, r in result.items():
        label = name + (" (tuned)" if name in picks else "")
        cells = [_with_ci(r["auc"], r.get("auc_ci"))] + [tpr_cell(r, k) for k in keys]
        print(f"{label:<18} {cells[0]:>22} " + " ".join(f"{c:>32}" for c in cells[1:]))
    for line in ci_notes(result):
        print(line)
    for variant, grid in picks.items():
        k = variant.partition("@")[2]
        print(
            f"(tuned) {variant}: the best k of the {grid} grid, tuned on the evaluation data, so its figures "
            f"are optimistic; name one k in advance (--attacks {grid}@{k}) for an unbiased figure"
        )


def ci_notes(result: dict) -> list[str]:
    """One line per distinct ``<figure>_ci_note`` (why an interval is n/a, or where it is Wilson's because every
    bootstrap resample agreed), naming the first few ``attack figure`` it concerns."""
    who: dict[str, list[str]] = {}
    for name, r in result.items():
        for key, note in r.items():
            if str(key).endswith("_ci_note") and note:
                who.setdefault(str(note), []).append(f"{name} {str(key)[: -len('_ci_note')]}")
    return [
        f"95% CI: {note} ({', '.join(w[:3])}{f' and {len(w) - 3} more' if len(w) > 3 else ''})"
        for note, w in who.items()
    ]


def _with_ci(value: float, ci: list[float] | None) -> str:
    """``0.750 [0.600, 0.850]``; ``0.750 [CI n/a]`` when the interval is not estimable (None: fewer than
    :data:`auditor.stats.intervals.MIN_PER_CLASS` members or non-members, the reason in ``<figure>_ci_note``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if not ci or len(ci) != 2 or any(x is None for x in ci):
        return f"{value:.3f} [CI n/a]"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
