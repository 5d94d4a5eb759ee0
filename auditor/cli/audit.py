"""``auditor audit``, ``demo``, ``report``, ``gate`` and ``unlearn-compare``: config-driven runs and their outputs."""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.common import (
    add_batch_size,
    add_command,
    add_model_args,
    add_set,
    flag_overrides,
    model_option_keys,
    positive_int,
    yaml_value,
)
from auditor.cli.tables import print_run_table
from auditor.errors import ConfigError, InputError
from auditor.inputs.data import read_utf8
from auditor.tasks import tasks_dir

if TYPE_CHECKING:  # the report (and with it torch) loads when a command runs, not for --help
    from auditor.report.policy import Policy

# flag (argparse attribute) -> config key, only flags given passed on. The model flags are ModelOptions' fields,
# which AuditConfig and the unlearn-compare config share; unlearn-compare's checkpoints carry their own revision.
MODEL_KEYS: tuple[str, ...] = tuple(k for _, k in model_option_keys())
AUDIT_KEYS: tuple[tuple[str, str], ...] = (("model", "model"), ("limit", "limit"), *model_option_keys())
COMPARE_KEYS: tuple[tuple[str, str], ...] = model_option_keys(revision=False)


def _gate_run(run: Path, policy: Policy, replace: bool = True) -> int:
    """Check ``policy`` on the run, print every rule and the verdict, write ``RUN/gates/<hash>.json`` (and, with
    ``replace``, the run's own ``gate.json`` and ``summary.json``); exit 0 on PASS, 1 on FAIL."""
    from auditor.report.figures import collect_figures
    from auditor.report.gate import check_policy, format_results, gate_summary, shift_warning, verdict_line
    from auditor.report.gate_files import GATE, own_verdict, write_gate

    figures, baseline = collect_figures(run)
    results = check_policy(policy, figures, baseline)
    for line in format_results(results):
        print(line)
    warning = shift_warning(figures)
    if warning:
        print(warning)
    summary = gate_summary(results, policy)
    summary["warnings"] += [warning] if warning else []
    before = own_verdict(run) if replace else None
    path = write_gate(run, summary, replace=replace)
    print(verdict_line(summary))
    if before and before[0] != summary["status"]:
        print(
            f"replaced the run's verdict: {before[0]} under policy {before[1]} is now {summary['status']} under "
            f"policy {policy.source or 'given'} (gate.json, summary.json)"
        )
    print(f"verdict: {path} (policy {policy.source or 'given'}, sha256 {policy.sha256[:12]})")
    if not replace and (run / GATE).exists():
        print(f"        the run's own verdict ({run / GATE}) is unchanged; --replace makes this one the run's verdict")
    return 0 if summary["passed"] else 1


def _audit(config: str, overrides: list[str], overwrite: bool, report: bool) -> int:
    from auditor.pipeline.audit import load_audit_config, run_audit
    from auditor.report.build import write_report
    from auditor.report.policy import parse_policy

    cfg = load_audit_config(config, overrides)
    out = run_audit(cfg, overwrite=overwrite)
    for folder in sorted((out / "checkpoints").glob("*/")):
        print_run_table(folder)
    rc = _gate_run(out, parse_policy(cfg.policy, source=f"{config}#policy")) if cfg.policy else 0
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
    from auditor.report.build import write_report

    cfg = load_compare_config(a.config, [*a.set, *flag_overrides(a, COMPARE_KEYS)])
    out = run_compare(cfg, overwrite=a.overwrite)
    print_run_table(out)
    html = write_report(out, title="memaudit unlearning comparison")
    print(f"comparison: {out / 'unlearning.json'}")
    print(f"report: {html}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from auditor.report.build import write_report
    from auditor.store.outdir import reading

    with reading(a.run) if Path(a.run).is_dir() else nullcontext():
        html = write_report(a.run, redact=not a.no_redact, title=a.title)
    print(f"report: {html}")
    print(f"        {html.with_suffix('.md')}")
    return 0


def _recorded_policy(run: Path) -> Policy:
    """The audit config's policy, as the audit recorded it in ``RUN/policy.json``."""
    from auditor.report.policy import parse_policy

    path = run / "policy.json"
    try:
        recorded = json.loads(read_utf8(path, "policy.json"))
    except ValueError as e:
        raise InputError(f"{path} is not valid JSON; pass --policy POLICY.yaml") from e
    if isinstance(recorded, dict):
        source = recorded.get("source") or str(path)
        recorded = {k: v for k, v in recorded.items() if k not in ("source", "sha256")}
        return parse_policy(recorded, source=source, where=str(path))
    return parse_policy(recorded, source=str(path), where=str(path))


def cmd_gate(a: argparse.Namespace) -> int:
    from auditor.report.policy import load_policy
    from auditor.store.outdir import reading

    run = Path(a.run)
    if not run.is_dir():
        raise InputError(f"run directory not found: {run}; give the folder a run wrote (its --out)")
    if a.policy:
        if Path(a.policy).is_file():
            read_utf8(a.policy, "policy YAML file")  # not UTF-8: one line naming the byte, before YAML reads it
        policy = load_policy(a.policy)
    elif (run / "policy.json").exists():
        policy = _recorded_policy(run)
    else:
        raise ConfigError(f"no --policy given and {run} records no policy (policy.json); pass --policy POLICY.yaml")
    with reading(run):
        return _gate_run(run, policy, replace=a.replace)


def _add_model_overrides(p: argparse.ArgumentParser, candidate: bool = True) -> None:
    """The model flags (:func:`add_model_args`), each setting the config key of its name; a flag left out: the
    config's value. ``candidate``: also --model, --revision (the candidate's) and --limit."""
    group = p.add_argument_group("model and data (each flag sets the config key of its name; left out: the config's)")
    if candidate:
        group.add_argument("--model", help="the candidate checkpoint: folder, .gguf, hub id or alias (key model)")
        group.add_argument("--limit", type=positive_int, help="at most N texts / items per section (key limit)")
    add_model_args(group, cache_dir=False, revision=candidate)
    add_batch_size(group, default=None)


def _add_gate_parser(sub: argparse._SubParsersAction) -> None:
    """``auditor gate RUN [--policy P] [--replace]``."""
    g = add_command(
        sub,
        "gate",
        cmd_gate,
        help="check a run's figures against a policy: exit 0 pass, 1 a rule failed or was inconclusive (too few "
        "items to decide), 2 bad policy or run",
    )
    g.add_argument("run", help="run directory")
    g.add_argument(
        "--policy",
        help="policy YAML (rules: ['PATH OP VALUE', ...], optional min_n: N (default 10) and inconclusive: "
        "fail|pass (default fail)); default: the audit config's policy",
    )
    g.add_argument(
        "--replace",
        action="store_true",
        help="make this verdict the run's own: rewrite RUN/gate.json and summary.json (the report follows); "
        "without it the verdict goes to RUN/gates/<policy hash>.json only",
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

    _add_gate_parser(sub)

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
