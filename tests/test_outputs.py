"""Never lose, never lie: no folder of the user's deleted or overwritten, one writer per run folder,
and a run folder resumed only for the same inputs (by content), refused before any model loads."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import auditor.pipeline.sweep as sweep_mod
from auditor.cli.main import main
from auditor.config import load_config
from auditor.errors import OutputError, RunDirError
from auditor.store.outdir import MARKER
from auditor.store.runs import Record, RunDir


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ folders that are not ours


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_lab_build_refuses_a_non_empty_folder_and_leaves_it_intact(tmp_path, capsys, extra):
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "thesis.tex").write_text("years of work")
    (home / "notes" / "a.txt").write_text("keep me")
    before = _tree(home)
    assert main(["lab", "build", "--out", str(home), *extra]) == 2
    assert "did not create" in _one_line_error(capsys)
    assert _tree(home) == before


def test_lab_build_out_a_file_and_a_second_build_need_overwrite(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["lab", "build", "--out", str(f)]) == 2
    assert "existing file" in _one_line_error(capsys) and f.read_text() == "x"
    out = tmp_path / "lab"
    assert main(["lab", "build", "--out", str(out)]) == 0
    assert json.loads((out / MARKER).read_text())["kind"] == "lab"
    capsys.readouterr()
    assert main(["lab", "build", "--out", str(out)]) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert main(["lab", "build", "--out", str(out), "--overwrite"]) == 0
    assert (out / "members.jsonl").exists()


def test_prune_never_writes_into_the_model_or_a_user_folder(tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    before = _tree(model)
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_text('{"mine": true}')
    for out, why in ((model, "is the model folder"), (model / "sub", "lies inside the model folder"),
                     (tmp_path, "contains the model folder"), (user, "did not create")):  # fmt: skip
        args = ["prune", "--model", str(model), "--method", "magnitude", "--sparsity", "0.5", "--out", str(out)]
        assert main([*args, "--overwrite"]) == 2
        assert why in _one_line_error(capsys)
    assert _tree(model) == before and (user / "config.json").read_text() == '{"mine": true}'
    out = tmp_path / "pruned"
    args = ["prune", "--model", str(model), "--method", "magnitude", "--sparsity", "0.5", "--out", str(out)]
    assert main(args) == 0 and json.loads((out / MARKER).read_text())["kind"] == "checkpoint"
    capsys.readouterr()
    assert main(args) == 2 and "--overwrite" in _one_line_error(capsys)
    assert main([*args, "--overwrite"]) == 0
    assert not list(tmp_path.glob(".pruned.partial-*"))  # the staging folder is gone


def test_overwrite_clears_the_whole_run_or_nothing(tmp_path):
    run = RunDir(tmp_path / "r", {"a": 1})
    run.write("u", [Record("mia", "loss", "auc", 0.9)])
    nested = tmp_path / "r" / "checkpoints" / "x"
    nested.mkdir(parents=True)
    (nested / "records.jsonl").write_text("{}\n")
    run.close()
    again = RunDir(tmp_path / "r", {"a": 2}, overwrite=True)
    assert not again.resumed and again.all_records() == [] and not (tmp_path / "r" / "checkpoints").exists()
    again.close()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2")
    with pytest.raises(OutputError, match="did not create"):
        RunDir(mine, {"a": 1}, overwrite=True)
    assert (mine / "data.csv").read_text() == "1,2"


# ------------------------------------------------------------------ one writer


_HOLD = """
import sys, time
from auditor.store.runs import RunDir
run = RunDir(sys.argv[1], {"a": 1})
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_second_writer_gets_one_line_naming_the_first(tmp_path):
    folder = tmp_path / "run"
    members, nonmembers = _texts(tmp_path / "m.jsonl", "m"), _texts(tmp_path / "n.jsonl", "n")
    first = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder), "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-m", "auditor.cli", "mia", "--model", "lab", "--members",
                                 str(members), "--nonmembers", str(nonmembers), "--out", str(folder)],
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        with pytest.raises(OutputError, match=f"pid {first.pid}"):
            RunDir(folder, {"a": 1})  # refused in-process too
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    err = second.stderr.strip().splitlines()
    assert len([x for x in err if x.startswith("auditor: error")]) == 1 and "Traceback" not in second.stderr
    assert f"another memaudit process (last writer: pid {first.pid}" in err[-1]
    assert RunDir(folder, {"a": 1}).resumed  # the killed holder released the lock


def test_the_lock_survives_no_crash(tmp_path):
    folder = tmp_path / "run"
    code = _HOLD.replace('print("locked", flush=True)', "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(folder), "0"])
    assert proc.returncode == -signal.SIGKILL
    assert RunDir(folder, {"a": 1}).resumed


# ------------------------------------------------------------------ resume keyed on content


def _texts(path: Path, prefix: str, n: int = 6) -> Path:
    rows = [{"id": f"{prefix}{i}", "text": f"{prefix} text number {i} about the quiet river and stones"}
            for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _sweep_cfg(model: Path, tmp_path: Path, *extra: str):
    members = tmp_path / "members.jsonl"
    nonmembers = tmp_path / "nonmembers.jsonl"
    if not members.exists():
        _texts(members, "m"), _texts(nonmembers, "n")
    keys = [f"model={model}", f"out={tmp_path / 'run'}", "families=[mia]", "methods=[magnitude]",
            "sparsities=[0.5]", f"mia.members={members}", f"mia.nonmembers={nonmembers}", "mia.attacks=[loss]",
            "device=cpu", *extra]  # fmt: skip
    return load_config(sweep_mod.SweepConfig, None, keys)


def test_a_changed_input_is_refused_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = sweep_mod.run_sweep(_sweep_cfg(model, tmp_path))
    summary = json.loads((out / "sweep.json").read_text())
    sweep_mod.run_sweep(_sweep_cfg(model, tmp_path))  # a finished sweep rerun: nothing new, summary whole
    assert json.loads((out / "sweep.json").read_text()) == summary and len(summary["points"]) == 2

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the run folder was checked")

    monkeypatch.setattr(sweep_mod, "load_model", refuse)
    _texts(tmp_path / "members.jsonl", "edited")  # same path, other content
    with pytest.raises(RunDirError, match="mia.members: content changed"):
        sweep_mod.run_sweep(_sweep_cfg(model, tmp_path))
    _texts(tmp_path / "members.jsonl", "m")  # back as it was: resumable again (nothing to do)
    with pytest.raises(RunDirError, match="dtype"):
        sweep_mod.run_sweep(_sweep_cfg(model, tmp_path, "dtype=bfloat16"))
    from transformers import AutoModelForCausalLM

    replaced = AutoModelForCausalLM.from_pretrained(model)
    for p in replaced.parameters():
        p.data.mul_(1.5)
    replaced.save_pretrained(model, safe_serialization=True)  # a new checkpoint at the same path
    with pytest.raises(RunDirError, match="checkpoint.model.fingerprint"):
        sweep_mod.run_sweep(_sweep_cfg(model, tmp_path))


def test_the_api_keys_runs_on_the_texts_and_weights(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import auditor

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    members = [f"member text {i} with some words" for i in range(5)]
    nonmembers = [f"other text {i} with more words" for i in range(5)]
    auditor.mia(model, tok, members, nonmembers, attacks=["loss"], out=tmp_path / "api")
    with pytest.raises(RunDirError, match="texts.0: content changed"):
        auditor.mia(model, tok, [*members[:-1], "changed"], nonmembers, attacks=["loss"], out=tmp_path / "api")
    with torch_no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(RunDirError, match="fingerprint"):
        auditor.mia(model, tok, members, nonmembers, attacks=["loss"], out=tmp_path / "api")


def torch_no_grad():
    import torch

    return torch.no_grad()


# ------------------------------------------------------------------ aggregates equal the records


def test_mia_summary_and_truncation_count_come_from_every_unit(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import auditor
    import auditor.probes.mia.runner as runner

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    members = [f"member text {i} with some more words than four" for i in range(6)]
    nonmembers = [f"other text {i} with some more words than four" for i in range(6)]
    opts = {"attacks": ["loss", "zlib"], "out": tmp_path / "m", "unit_size": 4, "max_tokens": 4, "n_boot": 50}
    real, calls = runner.score_texts, {"n": 0}

    def killed_on_second_unit(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(runner, "score_texts", killed_on_second_unit)
    with pytest.raises(KeyboardInterrupt):
        auditor.mia(model, tok, members, nonmembers, **opts)
    monkeypatch.setattr(runner, "score_texts", real)
    result = auditor.mia(model, tok, members, nonmembers, **opts)
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["mia_truncated_texts"] == 12  # every text cut, the first invocation's unit included
    summary = json.loads((tmp_path / "m" / "mia.json").read_text())
    assert summary == json.loads(json.dumps(result))
    records = [json.loads(x) for x in (tmp_path / "m" / "records.jsonl").read_text().splitlines()]
    aucs = {r["task"]: r for r in records if r.get("metric") == "auc"}
    for attack in ("loss", "zlib"):
        assert summary[attack]["auc"] == aucs[attack]["value"] and summary[attack]["auc_ci"] == aucs[attack]["ci"]
        assert summary[attack]["n_members"] == 6 and summary[attack]["n_nonmembers"] == 6


# ------------------------------------------------------------------ --allow-pickle reaches every config


def test_allow_pickle_reaches_audit_sweep_and_unlearn_compare(tiny_model_dir, tmp_path, capsys):
    import torch
    from transformers import AutoModelForCausalLM

    from auditor.cli.audit import AUDIT_KEYS, audit_overrides
    from auditor.cli.common import flag_overrides
    from auditor.cli.main import build_parser
    from auditor.cli.prune import sweep_overrides
    from auditor.models.load import load_model
    from auditor.pipeline.audit import _spec, load_audit_config
    from auditor.pipeline.sweep import load_sweep_config
    from auditor.pipeline.unlearn import load_compare_config

    pickled = tmp_path / "pickled"  # a checkpoint with pickled weights only (transformers 5 writes safetensors)
    shutil.copytree(tiny_model_dir, pickled)
    weights = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    (pickled / "model.safetensors").unlink()
    torch.save(weights, pickled / "pytorch_model.bin")
    parse = build_parser().parse_args
    a = parse(["audit", "x.yaml", "--allow-pickle"])
    audit = load_audit_config(None, [f"model={pickled}", "lab=standard", *audit_overrides(a)])
    sweep = load_sweep_config(None, [f"model={pickled}", *sweep_overrides(parse(["sweep", "--allow-pickle"]))])
    a = parse(["unlearn-compare", "x.yaml", "--allow-pickle"])
    keys = [f"base={pickled}", "forget=f", "retain=r", "holdout=h", "methods=[npo]"]
    compare = load_compare_config(None, [*keys, *flag_overrides(a, AUDIT_KEYS)])
    for spec in (_spec(audit, audit.compare[0] if audit.compare else _ref(audit)), sweep.spec(),
                 compare.spec(compare.base)):  # fmt: skip
        assert spec.allow_pickle
        assert load_model(spec).model.config.vocab_size > 0  # the .bin checkpoint loads
    no = load_sweep_config(None, [f"model={pickled}"]).spec()
    with pytest.raises(Exception, match="allow-pickle"):
        load_model(no)


def _ref(cfg):
    from auditor.pipeline.audit import CheckpointRef

    return CheckpointRef(cfg.label, cfg.model, cfg.revision)


def test_the_fingerprint_sees_a_changed_tail_of_a_small_weight_file(tmp_path):
    from auditor.store.identity import folder_fingerprint, tree_digest

    ckpt = tmp_path / "lab" / "model"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    weights = bytearray(range(256)) * 6000  # 1.5 MiB: between one and two MiB
    (ckpt / "model.safetensors").write_bytes(bytes(weights))
    before = folder_fingerprint(ckpt), tree_digest(tmp_path / "lab")
    weights[-10] ^= 1
    (ckpt / "model.safetensors").write_bytes(bytes(weights))
    after = folder_fingerprint(ckpt), tree_digest(tmp_path / "lab")
    assert before[0] != after[0] and before[1] != after[1]


def test_staged_outputs_are_readable_by_others(tmp_path):
    """A checkpoint folder written through ``staged`` ends 0755 / 0644 (umask 022) even when a writer made
    its file 0600 (safetensors does) and the staging folder came from mkdtemp (0700)."""
    import os
    import stat

    from auditor.store import outdir

    old = os.umask(0o022)
    try:
        with outdir.staged(tmp_path / "ckpt", "checkpoint") as tmp:
            fd = os.open(tmp / "model.safetensors", os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            (tmp / "sub").mkdir(mode=0o700)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [tmp_path / "ckpt", *(tmp_path / "ckpt").rglob("*")]}
    assert modes["ckpt"] == modes["sub"] == 0o755
    assert modes["model.safetensors"] == 0o644
