"""``auditor prune`` (prune once, save the checkpoint) and ``auditor sweep`` (probe families at every sparsity)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import auditor.store.outdir as outdir
from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_data_columns,
    add_device_dtype,
    add_model_args,
    add_set,
    csv_type,
    flag_overrides,
    float_in,
    model_spec,
    positive_int,
)
from auditor.cli.tables import print_run_table
from auditor.errors import ConfigError
from auditor.inputs.data import load_texts
from auditor.store.runs import atomic_write_json

GRANULARITIES = ("layer", "row", "global")

# ``auditor sweep`` flag (argparse attribute) -> the SweepConfig key it sets; only flags given are passed on.
SWEEP_KEYS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("lab", "lab"),
    ("out", "out"),
    ("structure", "structure"),
    ("granularity", "granularity"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("attn_implementation", "attn_implementation"),
    ("model_args", "model_args"),
    ("offload", "offload"),
    ("revision", "revision"),
    ("trust_remote_code", "trust_remote_code"),
    ("allow_pickle", "allow_pickle"),
    ("methods", "methods"),
    ("sparsities", "sparsities"),
    ("families", "families"),
    ("members", "mia.members"),
    ("nonmembers", "mia.nonmembers"),
    ("attacks", "mia.attacks"),
    ("extraction_data", "extraction.data"),
    ("prefix_lens", "extraction.prefix_lens"),
    ("suffix_len", "extraction.suffix_len"),
    ("canaries", "exposure.canaries"),
    ("corpus", "untargeted.corpus"),
    ("calibration", "calibration.path"),
    ("limit", "limit"),
    ("batch_size", "batch_size"),
)


def sweep_overrides(a: argparse.Namespace) -> list[str]:
    """The config overrides of an ``auditor sweep`` command line: ``--set`` items, then the flags given."""
    return [*a.set, *flag_overrides(a, SWEEP_KEYS)]


def cmd_prune(a: argparse.Namespace) -> int:
    from auditor import pruning
    from auditor.models.load import load_model, load_tokenizer, resolve_source
    from auditor.pruning.calibration import calibration_rows
    from auditor.pruning.engine import Pruning

    spec = pruning.PruneSpec(sparsity=a.sparsity, structure=a.structure, granularity=a.granularity)
    calibrates = getattr(pruning.PRUNERS.get(a.method), "needs_calibration", False)
    if calibrates and not a.calibration:
        raise ConfigError(f"--method {a.method} needs calibration texts; pass --calibration FILE")
    mspec = model_spec(a, a.model)
    src = resolve_source(mspec)
    out = outdir.check(a.out, "checkpoint", resume=False, overwrite=a.overwrite, sources=[] if src.hub else [src.path])
    rows = None
    if a.calibration:  # from the tokenizer alone: a bad file or too few tokens stops before the model loads
        texts = load_texts(a.calibration, a.text_column, None).texts
        rows = calibration_rows(load_tokenizer(mspec, src), texts, a.n_samples, a.seq_len)
    lm = load_model(mspec, src)
    report = Pruning(lm.model, a.method, rows, spec).apply_permanently(spec)
    recipe = {
        "method": a.method,
        **asdict(spec),
        "calibration": a.calibration,
        "n_samples": a.n_samples,
        "seq_len": a.seq_len,
        "source": a.model,
        "source_fingerprint": lm.fingerprint,
        "actual_sparsity": report["overall"],
        "actual_sparsity_per_layer": report["per_layer"],
    }
    lm.model.config.memaudit_pruning = {k: v for k, v in recipe.items() if k != "actual_sparsity_per_layer"}
    with outdir.staged(out, "checkpoint") as tmp:
        lm.model.save_pretrained(tmp, safe_serialization=True)
        lm.tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "pruning.json", recipe)
    print(
        f"pruned {len(report['per_layer'])} layers with {a.method}: actual sparsity {report['overall']:.4f}; "
        f"saved to {out}"
    )
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from auditor.pipeline.sweep import load_sweep_config, run_sweep

    cfg = load_sweep_config(a.config, sweep_overrides(a))
    out = run_sweep(cfg, overwrite=a.overwrite)
    print_run_table(out)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "prune",
        cmd_prune,
        help="prune a checkpoint once and save it (safetensors, recipe in config.json and pruning.json)",
    )
    p.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    p.add_argument(
        "--method",
        required=True,
        help="magnitude, wanda, sparsegpt (the papers' block-by-block procedures), wanda_nested or sparsegpt_dense "
        "(calibrated once on the dense model)",
    )
    p.add_argument(
        "--sparsity", type=float_in(0.0, 1.0, open_high=True), default=0.5, help="fraction in [0, 1) (ignored for N:M)"
    )
    p.add_argument("--structure", default="unstructured", help="unstructured or N:M, e.g. 2:4")
    p.add_argument("--granularity", choices=GRANULARITIES, help="default: the method's own")
    p.add_argument("--calibration", help="calibration texts (wanda*, sparsegpt*)")
    add_data_columns(p, ids=False)
    p.add_argument("--n-samples", type=positive_int, default=64, help="calibration rows")
    p.add_argument("--seq-len", type=positive_int, default=128, help="tokens per calibration row")
    p.add_argument("--out", required=True, help="output folder for the pruned checkpoint (new or empty)")
    p.add_argument("--overwrite", action="store_true", help="replace a pruned checkpoint memaudit wrote at --out")
    add_model_args(p)
    _add_sweep(sub)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    sw = add_command(
        sub,
        "sweep",
        cmd_sweep,
        help="prune at each sparsity (model loaded once) and run the probe families at every point",
        description="Config keys (YAML) mirror auditor.pipeline.sweep.SweepConfig; --set key=value and the flags "
        "below override them (a flag left out keeps the config's value; each flag names its key). Example: "
        "auditor sweep --model lab --lab build/lab-standard --methods magnitude,wanda "
        "--sparsities 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 --out reports/sweep",
    )
    sw.add_argument("config", nargs="?", help="YAML config (default: none, only flags and --set)")
    add_set(sw)
    sw.add_argument("--model", help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m); key model")
    sw.add_argument("--lab", help="lab folder (ground truth, default data); key lab")
    sw.add_argument("--out", help="run directory, resumed if it exists; key out")
    sw.add_argument(
        "--methods",
        type=csv_type(),
        help="comma-separated: magnitude, wanda, wanda_nested, sparsegpt, sparsegpt_dense; key methods",
    )
    sw.add_argument("--sparsities", type=csv_type(float), help="comma-separated, e.g. 0,0.5,0.9; key sparsities")
    sw.add_argument("--structure", help="unstructured or N:M, e.g. 2:4; key structure")
    sw.add_argument("--granularity", choices=GRANULARITIES, help="key granularity (default: the method's own)")
    sw.add_argument("--families", type=csv_type(), help="comma-separated probe families; key families")
    data = sw.add_argument_group("data (a flag left out: the config's value, else the lab's files)")
    data.add_argument("--members", help="member texts; key mia.members")
    data.add_argument("--nonmembers", help="non-member texts; key mia.nonmembers")
    data.add_argument("--attacks", type=csv_type(), help="comma-separated MIA attacks; key mia.attacks")
    data.add_argument("--extraction-data", help="texts for prefix extraction; key extraction.data")
    data.add_argument("--prefix-lens", type=csv_type(int), help="e.g. 8,16; key extraction.prefix_lens")
    data.add_argument("--suffix-len", type=positive_int, help="target suffix tokens; key extraction.suffix_len")
    data.add_argument("--canaries", help="canary rows (prefix, secret); key exposure.canaries")
    data.add_argument("--corpus", help="corpus for untargeted extraction; key untargeted.corpus")
    data.add_argument("--calibration", help="calibration texts (wanda*, sparsegpt*); key calibration.path")
    data.add_argument("--limit", type=positive_int, help="at most this many texts/items per probe; key limit")
    model = sw.add_argument_group(
        "model and batching (keys batch_size, dtype, device, ...; a flag left out: the config's value)"
    )
    add_batch_size(model, default=None)
    add_device_dtype(model)
    model.add_argument("--revision", help="hub revision for a hub id; key revision")
    model.add_argument("--trust-remote-code", action="store_true", help="key trust_remote_code=true")
    model.add_argument("--allow-pickle", action="store_true", help="allow .bin weights; key allow_pickle=true")
