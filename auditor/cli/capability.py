"""``auditor tasks build`` (capability task files, lm-eval configs) and ``auditor capability`` (dense evaluation)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from auditor.capability.analysis import threshold_table
from auditor.capability.builders import CapabilityConfig, build_task
from auditor.capability.schema import FAMILIES
from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_model_args,
    add_set,
    csv_type,
    flag_overrides,
    nonneg_int,
    positive_int,
)
from auditor.errors import ConfigError
from auditor.tasks import tasks_dir

DEFAULT_FAMILIES = ",".join(FAMILIES)
# ``auditor capability`` flag -> SweepConfig key; only flags given are passed on.
CAPABILITY_KEYS: tuple[tuple[str, str], ...] = (
    ("model", "model"),
    ("out", "out"),
    ("families", "families"),
    ("lab", "lab"),
    ("device", "device"),
    ("dtype", "dtype"),
    ("revision", "revision"),
    ("trust_remote_code", "trust_remote_code"),
    ("allow_pickle", "allow_pickle"),
    ("attn_implementation", "attn_implementation"),
    ("offload", "offload"),
    ("model_args", "model_args"),
    ("batch_size", "batch_size"),
    ("source", "capability.source"),
    ("limit", "capability.limit"),
    ("shots", "capability.shots"),
    ("seed", "capability.seed"),
)


def cmd_tasks(a: argparse.Namespace) -> int:
    """Write task files (rendered rows) and lm-eval YAML configs for one source."""
    from auditor.capability.lmeval import write_lm_eval_tasks

    families = a.families.split(",") if a.families else list(FAMILIES)
    files = {}
    if a.file:
        if len(families) != 1:
            raise ConfigError("--file needs exactly one --families FAMILY (the family the file's rows belong to)")
        files = {families[0]: a.file}
    source = "file" if a.file else a.source
    cfg = CapabilityConfig(
        source=None if a.file else a.source, files=files, limit=a.limit, shots=a.shots, seed=a.seed, icl_dim=a.icl_dim
    )
    lab = a.lab
    if source == "lab" and not lab:
        from auditor.lab.build import SHIPPED_DIR

        lab = str(SHIPPED_DIR)
    tasks = [build_task(f, cfg, lab) for f in families]
    out = Path(a.out) if a.out else tasks_dir()
    shipped = out.resolve() == tasks_dir().resolve()
    names = write_lm_eval_tasks(
        tasks, out / "lm_eval", data_dir=out / source, relative_to=tasks_dir().parent if shipped else None
    )
    for t in tasks:
        print(f"{t.family}: {len(t.items)} items from {t.source} -> {out / source / (t.name + '.jsonl')}")
    print(f"lm-eval tasks ({out / 'lm_eval'}): {', '.join(names)}")
    return 0


def capability_overrides(a: argparse.Namespace) -> list[str]:
    """A dense-only sweep of the families; the flags given, then ``--set`` (which wins)."""
    return [*flag_overrides(a, CAPABILITY_KEYS), "methods=[]", "sparsities=[0.0]", *a.set]


def cmd_capability(a: argparse.Namespace) -> int:
    """Evaluate the capability families on the dense model (a sweep with no pruning)."""
    from auditor.pipeline.sweep import load_sweep_config, run_sweep

    cfg = load_sweep_config(a.config, capability_overrides(a))
    out = run_sweep(cfg, overwrite=a.overwrite)
    cap = json.loads((out / "capability.json").read_text(encoding="utf-8"))
    print(threshold_table(cap))
    print(f"capability: {out / 'capability.json'}, {out / 'curves.png'}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tk = add_command(
        sub,
        "tasks",
        None,
        help="build capability task files and their lm-eval YAML configs (lab, real facts, or a user file)",
        description="auditor tasks build --source {lab,real} | --file F --families FAMILY. Writes rendered rows "
        "to OUT/<source>/<task>.jsonl and lm-eval configs to OUT/lm_eval/ (default OUT: the package's tasks/ "
        "folder). File format: tasks/README.md.",
    )
    tsub = tk.add_subparsers(dest="tasks_command", required=True, metavar="TASKS_COMMAND")
    b = add_command(tsub, "build", cmd_tasks, help="write task files and lm-eval configs")
    b.add_argument("--source", choices=("lab", "real"), default="real", help="where the items come from")
    b.add_argument("--lab", help="lab folder for --source lab (default: the shipped standard lab)")
    b.add_argument("--file", help="a user JSONL task file (format: tasks/README.md); needs one --families")
    b.add_argument("--families", help=f"comma-separated (default {DEFAULT_FAMILIES})")
    b.add_argument(
        "--limit", type=positive_int, help="at most this many items per family, a seeded sample (default: all)"
    )
    b.add_argument("--shots", type=nonneg_int, default=3, help="QA demonstrations per prompt")
    b.add_argument("--icl-dim", type=positive_int, default=1, help="dimension of in-context classification points")
    b.add_argument("--seed", type=nonneg_int, default=0, help="seed of the sample and the demonstrations")
    b.add_argument("--out", help="output folder (default: the package's tasks/ folder)")
    _add_capability(sub)


def _add_capability(sub: argparse._SubParsersAction) -> None:
    cp = add_command(
        sub,
        "capability",
        cmd_capability,
        help="evaluate fact recall and in-context learning families on a model (no pruning)",
        description="Dense-model capability evaluation; `auditor sweep --families ...` runs the same families at "
        "every sparsity. Config keys mirror auditor.pipeline.sweep.SweepConfig (capability.* section). Writes "
        "RUN/records.jsonl, RUN/samples/capability.jsonl, RUN/capability.json and RUN/curves.png.",
    )
    cp.add_argument("config", nargs="?", help="YAML config (default: none, only flags and --set)")
    cp.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    cp.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    cp.add_argument("--families", type=csv_type(), default=DEFAULT_FAMILIES, help="comma-separated; also lm_eval:TASK")
    cp.add_argument("--lab", help="lab folder (the task source when --source is not real)")
    cp.add_argument("--source", choices=("lab", "real"), help="task source (default: lab with --lab, else real)")
    cp.add_argument("--limit", type=positive_int, help="at most this many items per family (default: the config's)")
    cp.add_argument("--shots", type=nonneg_int, help="QA demonstrations per prompt (default: the config's)")
    cp.add_argument("--seed", type=nonneg_int, help="seed of the sample and the demonstrations (default: the config's)")
    add_model_args(cp, cache_dir=False)
    add_batch_size(cp, default=None, what="prompts per batch")
    add_set(cp)
