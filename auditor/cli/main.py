"""The ``auditor`` command line. Bad input prints one line and exits 2 (``--debug`` shows the traceback)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from auditor.cli.common import _model_args, _model_spec, batch_size_arg
from auditor.errors import AuditorError, ConfigError
from auditor.probes.mia import DEFAULT_ATTACKS

log = logging.getLogger("auditor")






def _plugin_modules() -> list:
    """Modules that add their own subcommands: each has ``add_parsers(sub, model_args)`` and ``COMMANDS``."""
    from auditor.cli import capability as cli_capability
    from auditor.cli import extract as cli_extract
    from auditor.cli import unlearn as cli_unlearn

    return [cli_extract, cli_capability, cli_unlearn]


def all_commands() -> dict:
    out = dict(COMMANDS)
    for module in _plugin_modules():
        out.update(module.COMMANDS)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="auditor",
        description="Audit what a language model has memorized, and what pruning does to it.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    lab = sub.add_parser("lab", help="the synthetic memorization lab")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    b = lab_sub.add_parser(
        "build",
        help="build a lab (micro: trained here in ~1 min; standard: the shipped one, or --retrain)",
        description="Generate a world with known members, canaries and facts, train a small Llama on it, "
        "and write an HF checkpoint plus ground truth. The standard preset is shipped: without --retrain it "
        "is copied (after a hash check) in seconds.",
    )
    b.add_argument("--preset", default="standard", help="micro or standard (default standard)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument(
        "--out",
        help="output folder (default lab-PRESET-seedN; with --retrain of standard "
        "seed 0: the shipped folder inside the package)",
    )
    b.add_argument(
        "--retrain", action="store_true", help="train the standard preset instead of copying the shipped one"
    )
    b.add_argument("--threads", type=int, help="torch threads for training (default 2)")
    b.add_argument(
        "--without-forget",
        action="store_true",
        help="with --retrain: train the unlearning oracle (standard lab minus its forget set, same seed and "
        "tokenizer; default out: the shipped auditor/lab/standard_retrain)",
    )

    info = sub.add_parser("info", help="architecture, parameter count, dtype and prunable layers of a model")
    info.add_argument("model", help="local folder, .gguf file, hub id, or an alias: lab, smollm2-135m")
    _model_args(info)

    mia = sub.add_parser(
        "mia",
        help="membership inference: score members vs non-members with every attack from one pass",
        description="Scores every text with LOSS, zlib, lowercase, Min-K%%, Min-K%%++, ReCaLL (and reference, "
        "given --reference-model) from one batched forward pass, and reports AUC with a bootstrap CI, "
        "TPR at 1%% and 0.1%% FPR. Writes RUN/mia.json, RUN/samples/mia_scores.jsonl, RUN/records.jsonl, "
        "RUN/mia_roc.png. Rerunning the same command resumes.",
    )
    mia.add_argument("--model", required=True, help="checkpoint (folder, .gguf, hub id, lab, smollm2-135m)")
    mia.add_argument("--members", required=True, help="texts that were trained on (jsonl/csv/parquet/txt/HF dir)")
    mia.add_argument("--nonmembers", required=True, help="texts that were not")
    mia.add_argument(
        "--attacks",
        default=",".join(DEFAULT_ATTACKS),
        help="comma-separated; min_k / min_k_pp mean their k grid, min_k@0.2 one k "
        f"(default {','.join(DEFAULT_ATTACKS)})",
    )
    mia.add_argument("--reference-model", help="reference model for the 'reference' attack (same tokenizer)")
    mia.add_argument("--max-tokens", type=int, help="truncate texts to N tokens (default: the model's context)")
    mia.add_argument("--batch-size", default="auto", help="texts per forward pass, or auto (default)")
    mia.add_argument("--text-column", default="text")
    mia.add_argument("--id-column", default="id")
    mia.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the AUC CI")
    mia.add_argument("--seed", type=int, default=0)
    mia.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    mia.add_argument("--overwrite", action="store_true", help="start the run directory again")
    _model_args(mia)

    pr = sub.add_parser(
        "prune",
        help="prune a checkpoint once and save it (safetensors, recipe in config.json and pruning.json)",
    )
    pr.add_argument("--model", required=True)
    pr.add_argument("--method", required=True, help="magnitude, wanda or sparsegpt")
    pr.add_argument("--sparsity", type=float, default=0.5, help="fraction in [0, 1) (ignored for N:M)")
    pr.add_argument("--structure", default="unstructured", help="unstructured or N:M, e.g. 2:4")
    pr.add_argument("--granularity", choices=("layer", "row", "global"), help="default: the method's own")
    pr.add_argument("--calibration", help="calibration texts (wanda, sparsegpt)")
    pr.add_argument("--text-column", default="text")
    pr.add_argument("--n-samples", type=int, default=64, help="calibration rows")
    pr.add_argument("--seq-len", type=int, default=128, help="tokens per calibration row")
    pr.add_argument("--out", required=True, help="output folder for the pruned checkpoint")
    _model_args(pr)

    sw = sub.add_parser(
        "sweep",
        help="prune at each sparsity (model loaded once) and run the probe families at every point",
        description="Config keys (YAML) mirror auditor.pipeline.sweep.SweepConfig; flags and --set key=value override "
        "them. Example: auditor sweep --model lab --lab build/lab-standard --methods magnitude,wanda "
        "--sparsities 0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9 --out reports/sweep",
    )
    sw.add_argument("config", nargs="?", help="YAML config (optional)")
    sw.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    for flag in ("model", "lab", "out", "structure", "granularity", "device", "dtype"):
        sw.add_argument(f"--{flag}")
    for flag in ("methods", "sparsities", "families"):
        sw.add_argument(f"--{flag}", help="comma-separated")
    sw.add_argument("--overwrite", action="store_true")

    for module in _plugin_modules():
        module.add_parsers(sub, _model_args)
    au = sub.add_parser(
        "audit",
        help="the release audit: run what CONFIG names (MIA, extraction, exposure, capability, sweep) on "
        "the candidate and comparison checkpoints; checks the config's policy",
        description="Run (or resume) a release audit. Exit 0: done (and the policy passed); 1: a rule failed; "
        "2: bad config or input. Example config: tasks/configs/audit-example.yaml.",
    )
    au.add_argument("config", help="audit YAML config")
    au.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    au.add_argument("--overwrite", action="store_true", help="start the run directory again")
    au.add_argument("--no-report", action="store_true", help="do not write report.html / report.md")

    rep = sub.add_parser("report", help="write report.html (self-contained) and report.md for a run directory")
    rep.add_argument("run", help="run directory (audit, mia, extract, sweep, unlearn-compare)")
    rep.add_argument("--redact", action="store_true", help="show memorized/extracted texts as length + hash only")
    rep.add_argument("--title", help="report title")

    g = sub.add_parser(
        "gate",
        help="check a run's figures against a policy: exit 0 all pass, 1 a rule failed, 2 bad policy or run",
    )
    g.add_argument("run", help="run directory")
    g.add_argument("--policy", help="policy YAML (rules: ['PATH OP VALUE', ...]); default: the audit config's policy")

    uc = sub.add_parser(
        "unlearn-compare",
        help="compare unlearned checkpoints: VerbMem, KnowMem, PrivLeak, utility, onion and resurfacing checks",
        description="Audit unlearned checkpoints (given, or made by built-in methods from the base) against the "
        "base and a retrained-without-forget oracle. Example: tasks/configs/unlearn-lab.yaml.",
    )
    uc.add_argument("config", help="unlearn-compare YAML config")
    uc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    uc.add_argument("--overwrite", action="store_true", help="start the run directory again")

    demo = sub.add_parser(
        "demo", help="the demo audit: `audit` with the shipped demo config on the shipped lab, then `report`"
    )
    demo.add_argument("--out", default="reports/demo", help="run directory (resumed if it exists)")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    demo.add_argument("--overwrite", action="store_true", help="start the run directory again")
    return p


def cmd_lab_build(a: argparse.Namespace) -> int:
    from auditor.lab.build import SHIPPED_DIR, build_lab, materialize_standard
    from auditor.lab.presets import get_preset

    get_preset(a.preset)
    if a.without_forget:
        from auditor.lab.build import SHIPPED_RETRAIN_DIR, build_retrain

        if a.preset != "standard" or not a.retrain:
            raise ConfigError("--without-forget trains the standard lab's oracle: use --preset standard --retrain")
        out = Path(a.out) if a.out else SHIPPED_RETRAIN_DIR
        info = build_retrain(a.seed, out, threads=a.threads or 1)
        print(f"built the retrain-without-forget model in {out} in {info['build_seconds']:.0f} s")
        print(json.dumps(info["figures"], indent=2))
        return 0
    if a.preset == "standard" and not a.retrain:
        if a.seed != 0:
            raise ConfigError(
                f"the shipped standard lab has seed 0; pass --retrain to train seed {a.seed} (about 15-45 minutes)"
            )
        out = Path(a.out or "lab-standard-seed0")
        info = materialize_standard(out)
        print(f"materialized the shipped standard lab in {out} (hashes checked)")
    else:
        if a.out:
            out = Path(a.out)
        elif a.preset == "standard" and a.seed == 0:
            out = SHIPPED_DIR
        else:
            out = Path(f"lab-{a.preset}-seed{a.seed}")
        info = build_lab(a.preset, a.seed, out, threads=a.threads)
        print(f"built the {a.preset} lab (seed {a.seed}) in {out} in {info['build_seconds']:.0f} s")
    print(json.dumps(info["figures"], indent=2))
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from auditor.models import load_model, model_info

    print(json.dumps(model_info(load_model(_model_spec(a, a.model))), indent=2))
    return 0


def _gate_run(run: Path, rules: list) -> int:
    from auditor.report.figures import collect_figures
    from auditor.report.gate import check, format_results, gate_summary
    from auditor.runs import atomic_write_json

    figures, baseline = collect_figures(run)
    results = check(rules, figures, baseline)
    for line in format_results(results):
        print(line)
    summary = gate_summary(results)
    atomic_write_json(run / "gate.json", summary)
    print(f"gate: {'PASS' if summary['passed'] else 'FAIL'} ({sum(r.passed for r in results)}/{len(results)} rules)")
    return 0 if summary["passed"] else 1


def _audit(config: str, overrides: list[str], overwrite: bool, report: bool) -> int:
    from auditor.pipeline.audit import load_audit_config, run_audit
    from auditor.report.build import write_report
    from auditor.report.gate import parse_rules

    cfg = load_audit_config(config, overrides)
    out = run_audit(cfg, overwrite=overwrite)
    rc = _gate_run(out, parse_rules(list(cfg.policy))) if cfg.policy else 0
    if report:
        html = write_report(out)
        print(f"report: {html}")
        print(f"        {html.with_suffix('.md')}")
    return rc


def cmd_audit(a: argparse.Namespace) -> int:
    return _audit(a.config, a.set, a.overwrite, not a.no_report)


def cmd_demo(a: argparse.Namespace) -> int:
    from tasks import tasks_dir

    rc = _audit(str(tasks_dir() / "configs" / "demo-audit.yaml"), [f"out={a.out}", *a.set], a.overwrite, True)
    # The demo's lab model memorizes by construction, so its policy is meant to fail: the demo itself succeeded.
    if rc == 1:
        print("demo: done; the lab checkpoint fails the example policy, as it should (it memorizes by design)")
    return 0


def cmd_unlearn_compare(a: argparse.Namespace) -> int:
    from auditor.pipeline.unlearn import load_compare_config, run_compare
    from auditor.report.build import write_report

    out = run_compare(load_compare_config(a.config, a.set), overwrite=a.overwrite)
    html = write_report(out, title="memaudit unlearning comparison")
    print(f"comparison: {out / 'unlearning.json'}")
    print(f"report: {html}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from auditor.report.build import write_report

    html = write_report(a.run, redact=a.redact, title=a.title)
    print(f"report: {html}")
    print(f"        {html.with_suffix('.md')}")
    return 0


def cmd_gate(a: argparse.Namespace) -> int:
    from auditor.report.gate import load_policy, parse_rules

    run = Path(a.run)
    if a.policy:
        rules = load_policy(a.policy)
    elif (run / "policy.json").exists():
        rules = parse_rules(json.loads((run / "policy.json").read_text(encoding="utf-8")).get("rules"))
    else:
        raise ConfigError(f"no --policy given and {run} records no policy (policy.json); pass --policy POLICY.yaml")
    return _gate_run(run, rules)




def cmd_mia(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    from auditor.data import load_texts
    from auditor.models import load_model
    from auditor.probes.mia.runner import MIAConfig, expand_attacks, run_mia
    from auditor.runs import RunDir

    attacks = tuple(x.strip() for x in a.attacks.split(",") if x.strip())
    if not attacks:
        raise ConfigError("--attacks is empty; name at least one attack")
    if a.max_tokens is not None and a.max_tokens < 2:
        raise ConfigError(f"--max-tokens must be at least 2, got {a.max_tokens}")
    expand_attacks(attacks, a.reference_model is not None)  # fail on bad names before loading anything
    members = load_texts(a.members, a.text_column, a.id_column)
    nonmembers = load_texts(a.nonmembers, a.text_column, a.id_column)
    cfg = MIAConfig(
        attacks=attacks, batch_size=batch_size_arg(a.batch_size), max_tokens=a.max_tokens, n_boot=a.n_boot, seed=a.seed
    )
    lm = load_model(_model_spec(a, a.model))
    ref = load_model(_model_spec(a, a.reference_model)) if a.reference_model else None
    config = {
        "command": "mia",
        "model": a.model,
        "members": a.members,
        "nonmembers": a.nonmembers,
        "reference_model": a.reference_model,
        "mia": asdict(cfg),
    }
    run = RunDir(
        a.out,
        config,
        overwrite=a.overwrite,
        extra_manifest={
            "checkpoint": lm.describe(),
            "seeds": {"bootstrap": a.seed},
            "reference": ref.describe() if ref else None,
        },
    )
    result = run_mia(
        lm.model,
        lm.tokenizer,
        members,
        nonmembers,
        run,
        cfg,
        reference_model=ref.model if ref else None,
        reference_tokenizer=ref.tokenizer if ref else None,
    )
    print(f"{'attack':<16} {'AUC':>6} {'95% CI':>15} {'TPR@1%':>7} {'TPR@0.1%':>8}")
    for name, r in result.items():
        lo, hi = r["auc_ci"]
        print(f"{name:<16} {r['auc']:6.3f} [{lo:.3f}, {hi:.3f}] {r['tpr@1%fpr']:7.3f} {r['tpr@0.1%fpr']:8.3f}")
    print(f"wrote {run.path / 'mia.json'}")
    return 0


def cmd_prune(a: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pruning
    from auditor.data import load_texts
    from auditor.models import load_model
    from auditor.runs import atomic_write_json
    from pruning.calibration import calibration_rows
    from pruning.engine import Pruning

    spec = pruning.PruneSpec(sparsity=a.sparsity, structure=a.structure, granularity=a.granularity)
    pruning.PRUNERS.get(a.method)
    lm = load_model(_model_spec(a, a.model))
    rows = None
    if a.calibration:
        texts = load_texts(a.calibration, a.text_column, None).texts
        rows = calibration_rows(lm.tokenizer, texts, a.n_samples, a.seq_len)
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
    out = Path(a.out)
    lm.model.save_pretrained(out, safe_serialization=True)
    lm.tokenizer.save_pretrained(out)
    atomic_write_json(out / "pruning.json", recipe)
    print(
        f"pruned {len(report['per_layer'])} layers with {a.method}: actual sparsity {report['overall']:.4f}; "
        f"saved to {out}"
    )
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from auditor.pipeline.sweep import load_sweep_config, run_sweep

    overrides = list(a.set)
    for flag in ("model", "lab", "out", "structure", "granularity", "device", "dtype"):
        if getattr(a, flag) is not None:
            overrides.append(f"{flag}={getattr(a, flag)}")
    for flag in ("methods", "sparsities", "families"):
        if getattr(a, flag) is not None:
            overrides.append(f"{flag}=[{getattr(a, flag)}]")
    cfg = load_sweep_config(a.config, overrides)
    out = run_sweep(cfg, overwrite=a.overwrite)
    print(f"sweep records: {out / 'records.jsonl'}")
    return 0


COMMANDS = {
    "info": cmd_info,
    "demo": cmd_demo,
    "audit": cmd_audit,
    "report": cmd_report,
    "gate": cmd_gate,
    "unlearn-compare": cmd_unlearn_compare,
    "mia": cmd_mia,
    "prune": cmd_prune,
    "sweep": cmd_sweep,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if a.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = cmd_lab_build if a.command == "lab" else all_commands()[a.command]
    try:
        return handler(a)
    except AuditorError as e:
        if a.debug:
            raise
        print(f"auditor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("auditor: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
