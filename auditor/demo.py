"""The demo audit: a lab's figures and a LOSS-attack membership AUC, written as a resumable run."""

from __future__ import annotations

from pathlib import Path

from auditor.data import TextSet
from auditor.lab.build import load_lab_files
from auditor.lab.evaluate import lab_figures, lab_records
from auditor.models import ModelSpec, load_model
from auditor.probes.mia.runner import MIAConfig, run_mia
from auditor.report import write_report
from auditor.runs import RunDir


def run_demo(
    lab_dir: str | Path,
    out: str | Path,
    *,
    spec: ModelSpec | None = None,
    batch_size: int = 32,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Run (or resume) the demo audit of the lab in ``lab_dir``; return the HTML report's path."""
    lab_dir = Path(lab_dir)
    files = load_lab_files(lab_dir)
    spec = spec or ModelSpec(source=str(lab_dir / "model"))
    loaded = load_model(spec)
    config = {
        "kind": "demo",
        "lab": str(lab_dir.resolve()),
        "model": spec.source,
        "batch_size": batch_size,
        "seed": seed,
    }
    run = RunDir(
        out, config, overwrite=overwrite, extra_manifest={"checkpoint": loaded.describe(), "seeds": {"bootstrap": seed}}
    )
    model, tok = loaded.model, loaded.tokenizer

    if not run.done("lab_figures"):
        figs = lab_figures(model, tok, files, batch_size=batch_size)
        run.write("lab_figures", lab_records(figs, {k: len(v) for k, v in files.items()}))

    members = TextSet([x["id"] for x in files["members"]], [x["text"] for x in files["members"]], "members")
    nonmembers = TextSet([x["id"] for x in files["nonmembers"]], [x["text"] for x in files["nonmembers"]], "nonmembers")
    mia = run_mia(model, tok, members, nonmembers, run, MIAConfig(batch_size=batch_size, seed=seed))
    notes = [
        f"model: {loaded.resolved} ({loaded.fingerprint})",
        f"lab: {lab_dir} - {len(files['members'])} members, {len(files['nonmembers'])} non-members, "
        f"{len(files['canaries'])} canaries, {len(files['facts'])} facts",
        "Membership inference: higher score = more likely a member. LOSS (Yeom et al. 2018) AUC "
        f"{mia['loss']['auc']:.3f}; best attack {max(mia, key=lambda k: mia[k]['auc'])}.",
    ] + loaded.notes
    return write_report(run, title="memaudit demo audit", notes=notes)
