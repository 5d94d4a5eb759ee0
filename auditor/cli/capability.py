"""Subcommands for capability (wired into ``auditor.cli``): ``auditor tasks build`` and ``auditor capability``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def cmd_tasks(a: argparse.Namespace) -> int:
    """Write task files (rendered rows) and lm-eval YAML configs for one source."""
    from auditor.capability.builders import CapabilityConfig, build_task
    from auditor.capability.lmeval import write_lm_eval_tasks
    from auditor.capability.schema import FAMILIES
    from auditor.errors import ConfigError
    from tasks import tasks_dir

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


def cmd_capability(a: argparse.Namespace) -> int:
    """Evaluate the capability families on the dense model (a sweep with no pruning)."""
    from auditor.capability.analysis import threshold_table
    from auditor.pipeline.sweep import load_sweep_config, run_sweep

    overrides = [f"model={a.model}", f"out={a.out}", "methods=[]", "sparsities=[0.0]", f"families=[{a.families}]"]
    for flag in ("lab", "device", "dtype"):
        if getattr(a, flag) is not None:
            overrides.append(f"{flag}={getattr(a, flag)}")
    for flag in ("source", "limit", "shots", "seed"):
        if getattr(a, flag) is not None:
            overrides.append(f"capability.{flag}={getattr(a, flag)}")
    cfg = load_sweep_config(a.config, overrides + list(a.set))
    out = run_sweep(cfg, overwrite=a.overwrite)
    cap = json.loads((out / "capability.json").read_text(encoding="utf-8"))
    print(threshold_table(cap))
    print(f"capability: {out / 'capability.json'}, {out / 'curves.png'}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"tasks": cmd_tasks, "capability": cmd_capability}


def add_parsers(sub: argparse._SubParsersAction, model_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``model_args`` adds the shared --dtype/--device/... flags."""
    families = "fact_recall,open_book,overriding,icl_classification"
    tk = sub.add_parser(
        "tasks",
        help="build capability task files and their lm-eval YAML configs (lab, real facts, or a user file)",
        description="auditor tasks build --source {lab,real} | --file F --families FAMILY. Writes rendered rows "
        "to OUT/<source>/<task>.jsonl and lm-eval configs to OUT/lm_eval/ (default OUT: the package's tasks/ "
        "folder). File format: tasks/README.md.",
    )
    tsub = tk.add_subparsers(dest="tasks_command", required=True)
    b = tsub.add_parser("build", help="write task files and lm-eval configs")
    b.add_argument("--source", choices=("lab", "real"), default="real")
    b.add_argument("--lab", help="lab folder for --source lab (default: the shipped standard lab)")
    b.add_argument("--file", help="a user JSONL task file (format: tasks/README.md); needs one --families")
    b.add_argument("--families", help=f"comma-separated (default {families})")
    b.add_argument("--limit", type=int, help="at most this many items per family (seeded sample)")
    b.add_argument("--shots", type=int, default=3, help="QA demonstrations per prompt (default 3)")
    b.add_argument("--icl-dim", type=int, default=1, help="dimension of in-context classification points")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", help="output folder (default: the package's tasks/ folder)")

    cp = sub.add_parser(
        "capability",
        help="evaluate fact recall and in-context learning families on a model (no pruning)",
        description="Dense-model capability evaluation; `auditor sweep --families ...` runs the same families at "
        "every sparsity. Config keys mirror auditor.pipeline.sweep.SweepConfig (capability.* section). Writes "
        "RUN/records.jsonl, RUN/samples/capability.jsonl, RUN/capability.json and RUN/curves.png.",
    )
    cp.add_argument("config", nargs="?", help="YAML config (optional)")
    cp.add_argument("--model", required=True)
    cp.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    cp.add_argument("--families", default=families, help="comma-separated; also lm_eval:TASK")
    cp.add_argument("--lab", help="lab folder (the task source when --source is not real)")
    cp.add_argument("--source", choices=("lab", "real"))
    cp.add_argument("--limit", type=int)
    cp.add_argument("--shots", type=int)
    cp.add_argument("--seed", type=int)
    cp.add_argument("--device", choices=("cpu", "cuda", "auto"))
    cp.add_argument("--dtype", choices=("float32", "bfloat16", "float16"))
    cp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    cp.add_argument("--overwrite", action="store_true")
