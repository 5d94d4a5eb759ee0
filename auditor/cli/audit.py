"""``auditor audit``, ``demo``, ``report``, ``gate`` and ``unlearn-compare``: config-driven runs and their outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_device_dtype,
    add_set,
    flag_overrides,
    positive_int,
    yaml_value,
)
from auditor.cli.tables import print_run_table
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import read_utf8
from auditor.report.build import write_report
from auditor.report.figures import collect_figures
from auditor.report.gate import check, format_results, gate_summary, load_policy, parse_rules, shift_warning
from auditor.report.summary import write_summary
from auditor.store.runs import atomic_write_json
from auditor.tasks import tasks_dir

# ``audit`` / ``demo`` flags -> AuditConfig keys; only flags given are passed on.
# flag (argparse attribute) -> config key, for audit, demo and unlearn-compare (their configs share these keys)
MODEL_KEYS = ("device", "dtype", "batch_size", "allow_pickle", "trust_remote_code", "attn_implementation", "offload",
              "model_args")  # fmt: skip
AUDIT_KEYS: tuple[tuple[str, str], ...] = tuple((k, k) for k in ("model", "revision", "limit", *MODEL_KEYS))
COMPARE_KEYS: tuple[tuple[str, str], ...] = tuple((k, k) for k in MODEL_KEYS)


def _gate_run(run: Path, rules: list) -> int:
    figures, baseline = collect_figures(run)
    results = check(rules, figures, baseline)
    for line in format_results(results):
        print(line)
    warning = shift_warning(figures)
    if warning:
        print(warning)
    summary = gate_summary(results)
    summary["warnings"] += [warning] if warning else []
    atomic_write_json(run / "gate.json", summary)
    write_summary(run, gate=summary)
    print(f"gate: {'PASS' if summary['passed'] else 'FAIL'} ({sum(r.passed for r in results)}/{len(results)} rules)")
    return 0 if summary["passed"] else 1


def _audit(config: str, overrides: list[str], overwrite: bool, report: bool) -> int:
    from auditor.pipeline.audit import load_audit_config, run_audit

    cfg = load_audit_config(config, overrides)
    out = run_audit(cfg, overwrite=overwrite)
    for folder in sorted((out / "checkpoints").glob("*/")):
        print_run_table(folder)
    rc = _gate_run(out, parse_rules(list(cfg.policy))) if cfg.policy else 0
    if report:
        html = write_report(out)
        print(f"report: {html}")
        print(f"        {html.with_suffix('.md')}")
    return rc


def audit_overrides(a: argparse.Namespace) -> list[str]:
    """The config overrides of ``audit`` / ``demo``: (demo: ``--out``), ``--set`` items, then the flags given."""
    out = [f"out={yaml_value(a.out)}"] if a.command == "demo" else []
    return [*out, *a.set, *flag_overrides(a, AUDIT_KEYS)]


def cmd_audit(a: argparse.Namespace) -> int:
    return _audit(a.config, audit_overrides(a), a.overwrite, not a.no_report)


def cmd_demo(a: argparse.Namespace) -> int:
    rc = _audit(str(tasks_dir() / "configs" / "demo-audit.yaml"), audit_overrides(a), a.overwrite, True)
    # The demo's lab model memorizes by construction, so its policy is meant to fail: the demo itself succeeded.
    if rc == 1:
        print("demo: done; the lab checkpoint fails the example policy, as it should (it memorizes by design)")
    return 0


def cmd_unlearn_compare(a: argparse.Namespace) -> int:
    from auditor.pipeline.unlearn import load_compare_config, run_compare

    cfg = load_compare_config(a.config, [*a.set, *flag_overrides(a, COMPARE_KEYS)])
    out = run_compare(cfg, overwrite=a.overwrite)
    print_run_table(out)
    html = write_report(out, title="memaudit unlearning comparison")
    print(f"comparison: {out / 'unlearning.json'}")
    print(f"report: {html}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    html = write_report(a.run, redact=not a.no_redact, title=a.title)
    print(f"report: {html}")
    print(f"        {html.with_suffix('.md')}")
    return 0


def cmd_gate(a: argparse.Namespace) -> int:
    run = Path(a.run)
    if not run.is_dir():
        raise InputError(f"run directory not found: {run}; give the folder a run wrote (its --out)")
    if a.policy:
        if Path(a.policy).is_file():
            read_utf8(a.policy, "policy YAML file")  # not UTF-8: one line naming the byte, before YAML reads it
        rules = load_policy(a.policy)
    elif (run / "policy.json").exists():
        try:
            recorded = json.loads(read_utf8(run / "policy.json", "policy.json"))
        except ValueError as e:
            raise InputError(f"{run / 'policy.json'} is not valid JSON; pass --policy POLICY.yaml") from e
        rules = parse_rules(recorded.get("rules") if isinstance(recorded, dict) else None)
    else:
        raise ConfigError(f"no --policy given and {run} records no policy (policy.json); pass --policy POLICY.yaml")
    return _gate_run(run, rules)


def _add_model_overrides(p: argparse.ArgumentParser, candidate: bool = True) -> None:
    """The model flags, each setting the config key of the same name; a flag left out: the config's value."""
    group = p.add_argument_group("model and data (each flag sets the config key of its name; left out: the config's)")
    if candidate:
        group.add_argument("--model", help="the candidate checkpoint: folder, .gguf, hub id or alias (key model)")
        group.add_argument("--revision", help="hub revision of the candidate (branch, tag or commit)")
        group.add_argument("--limit", type=positive_int, help="at most N texts / items per section (key limit)")
    add_device_dtype(group)
    add_batch_size(group, default=None)
    group.add_argument("--allow-pickle", action="store_true", help="allow .bin (pickle) weights in every checkpoint")
    group.add_argument(
        "--trust-remote-code", action="store_true", help="run the checkpoints' own code (only if trusted)"
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    au = add_command(
        sub,
        "audit",
        cmd_audit,
        help="the release audit: run what CONFIG names (MIA, extraction, exposure, capability, sweep) on "
        "the candidate and comparison checkpoints; checks the config's policy",
        description="Run (or resume) a release audit. Exit 0: done (and the policy passed); 1: a rule failed; "
        "2: bad config or input. Example config: tasks/configs/audit-example.yaml. --device, --dtype and "
        "--batch-size set the config keys device, dtype and batch_size.",
    )
    au.add_argument("config", help="audit YAML config")
    add_set(au)
    au.add_argument("--no-report", action="store_true", help="do not write report.html / report.md")
    _add_model_overrides(au)

    demo = add_command(
        sub,
        "demo",
        cmd_demo,
        help="the demo audit: `audit` with the shipped demo config on the shipped lab, then `report`",
    )
    demo.add_argument("--out", default="reports/demo", help="run directory (resumed if it exists)")
    add_set(demo)
    _add_model_overrides(demo)

    rep = add_command(
        sub, "report", cmd_report, help="write report.html (self-contained) and report.md for a run directory"
    )
    rep.add_argument("run", help="run directory (audit, mia, extract, sweep, unlearn-compare)")
    rep.add_argument(
        "--no-redact",
        action="store_true",
        help="show member and extracted texts in full (by default they are replaced by a tag salted per report "
        "and a coarse length, so the report can be shared)",
    )
    rep.add_argument("--title", help="report title (default: from the run's kind)")

    g = add_command(
        sub,
        "gate",
        cmd_gate,
        help="check a run's figures against a policy: exit 0 all pass, 1 a rule failed, 2 bad policy or run",
    )
    g.add_argument("run", help="run directory")
    g.add_argument("--policy", help="policy YAML (rules: ['PATH OP VALUE', ...]); default: the audit config's policy")

    uc = add_command(
        sub,
        "unlearn-compare",
        cmd_unlearn_compare,
        help="compare unlearned checkpoints: VerbMem, KnowMem, PrivLeak, utility, onion and resurfacing checks",
        description="Audit unlearned checkpoints (given, or made by built-in methods from the base) against the "
        "base and a retrained-without-forget oracle. Example: tasks/configs/unlearn-lab.yaml.",
    )
    uc.add_argument("config", help="unlearn-compare YAML config")
    add_set(uc)
    _add_model_overrides(uc, candidate=False)
