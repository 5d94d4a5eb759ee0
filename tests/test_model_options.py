"""ModelOptions: the model options declared once (configs, flags), the one ModelSpec builder, one resolution."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
import sys
import textwrap
from pathlib import Path

from auditor.cli.audit import AUDIT_KEYS, COMPARE_KEYS, audit_overrides
from auditor.cli.common import model_options, model_spec
from auditor.cli.main import build_parser
from auditor.models.options import ModelOptions, ModelSpec, option_names
from auditor.pipeline.audit import AuditConfig, _spec, load_audit_config
from auditor.pipeline.sweep import SweepConfig, load_sweep_config

OPTIONS = {
    "device": "cpu",
    "dtype": "bfloat16",
    "attn_implementation": "eager",
    "model_args": "low_cpu_mem_usage=true",
    "offload": True,
    "trust_remote_code": True,
    "allow_pickle": True,
    "batch_size": 4,
    "revision": "v1",
}


def test_every_option_is_a_field_with_a_docstring_and_every_config_inherits_them() -> None:
    assert set(option_names()) == set(OPTIONS)
    for cls in (AuditConfig, SweepConfig):
        assert issubclass(cls, ModelOptions)
        assert set(option_names()) <= {f.name for f in dataclasses.fields(cls)}
    body = ast.parse(textwrap.dedent(inspect.getsource(ModelOptions))).body[0].body
    documented = {
        node.target.id
        for node, after in itertools.pairwise(body)
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
    }
    assert documented == set(option_names())  # each field is followed by its docstring


def test_spec_for_carries_every_option_and_the_cache_dir() -> None:
    opts = ModelOptions(**OPTIONS)
    spec = opts.spec_for("org/name", cache_dir="/tmp/c")
    expected = {k: v for k, v in OPTIONS.items() if k != "batch_size"}
    assert spec == ModelSpec(source="org/name", cache_dir="/tmp/c", **expected)
    from auditor.models.load import ModelSpec as Reexported

    assert Reexported is ModelSpec


def test_flat_yaml_keys_make_the_configs_model_options(tmp_path: Path) -> None:
    p = tmp_path / "audit.yaml"
    flat = "".join(f"{k}: {json.dumps(v)}\n" for k, v in OPTIONS.items())
    p.write_text(f"model: lab\nlab: standard\ncompare: [{{label: prev, model: other}}]\n{flat}")
    audit = load_audit_config(str(p), [])
    assert audit.model_options == ModelOptions(**OPTIONS)
    assert type(audit.model_options) is ModelOptions
    assert _spec(audit, audit.compare[0]).revision is None  # a comparison has its own revision
    assert _spec(audit, audit.compare[0]).dtype == "bfloat16"
    sweep = load_sweep_config(None, ["model=lab", *(f"{k}={json.dumps(v)}" for k, v in OPTIONS.items())])
    assert sweep.model_options == ModelOptions(**OPTIONS)
    assert sweep.spec() == sweep.spec_for("lab") and sweep.spec().revision == "v1"


def test_the_flags_are_the_options() -> None:
    parse = build_parser().parse_args
    flags = ["--device", "cpu", "--dtype", "bfloat16", "--attn-implementation", "eager", "--offload"]
    flags += ["--model-args", "low_cpu_mem_usage=true", "--trust-remote-code", "--allow-pickle"]
    flags += ["--batch-size", "4", "--revision", "v1"]
    a = parse(["mia", "--model", "m", "--members", "x", "--nonmembers", "y", "--out", "o", *flags])
    assert model_options(a) == ModelOptions(**OPTIONS)
    assert model_spec(a, "m") == ModelOptions(**OPTIONS).spec_for("m")
    auto = parse(["mia", "--model", "m", "--members", "x", "--nonmembers", "y", "--out", "o"])
    assert model_options(auto) == ModelOptions()  # --batch-size auto: None
    keys = {k for _, k in AUDIT_KEYS}
    assert set(option_names()) <= keys and {k for _, k in COMPARE_KEYS} == set(option_names()) - {"revision"}
    overrides = audit_overrides(parse(["audit", "c.yaml", *flags]))
    cfg = load_audit_config(None, ["model=lab", "lab=standard", *overrides])
    assert cfg.model_options == ModelOptions(**OPTIONS)


def _texts(path: Path, n: int, offset: int) -> str:
    text = "The colour of item {} is {}. Q: What is it? A: yes."
    rows = [{"id": f"t{offset + i}", "text": text.format(offset + i, i % 13)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _count_resolutions(monkeypatch) -> list[str]:
    """Every call of ``resolve_source``, in every module that imported it by name: the sources resolved."""
    from auditor.models import load

    calls: list[str] = []
    original = load.resolve_source

    def counting(spec: ModelSpec) -> load.Resolved:
        calls.append(spec.source)
        return original(spec)

    for module in list(sys.modules.values()):
        if getattr(module, "resolve_source", None) is original:
            monkeypatch.setattr(module, "resolve_source", counting)
    return calls


def test_an_audit_resolves_each_checkpoint_once(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from auditor.pipeline.audit import run_audit

    calls = _count_resolutions(monkeypatch)
    members, nonmembers = _texts(tmp_path / "m.jsonl", 12, 0), _texts(tmp_path / "n.jsonl", 12, 100)
    other = tmp_path / "other"  # a second checkpoint (same weights, another folder)
    other.symlink_to(tiny_model_dir, target_is_directory=True)
    overrides = [
        f"model={tiny_model_dir}",
        f"compare=[{{label: previous, model: {other}}}]",
        f"out={tmp_path / 'audit'}",
        "device=cpu",
        f"mia={{members: {members}, nonmembers: {nonmembers}, attacks: [loss], n_boot: 20}}",
        f"extraction={{data: {members}, prefix_lens: [4], suffix_len: 4}}",  # its check reads the tokenizer
        "exposure={enabled: false}",
        "capability={enabled: false}",
    ]
    out = run_audit(load_audit_config(None, overrides))
    assert (out / "checkpoints" / "previous" / "records.jsonl").is_file()
    assert sorted(calls) == sorted([str(tiny_model_dir), str(other)])  # once per checkpoint, not once per use


def test_a_sweep_resolves_its_checkpoint_once(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from auditor.pipeline.sweep import run_sweep

    calls = _count_resolutions(monkeypatch)
    members, nonmembers = _texts(tmp_path / "m.jsonl", 12, 0), _texts(tmp_path / "n.jsonl", 12, 100)
    overrides = [
        f"model={tiny_model_dir}",
        f"out={tmp_path / 'sweep'}",
        "device=cpu",
        "families=[mia, extraction]",
        "methods=[magnitude]",
        "sparsities=[0.0, 0.5]",
        f"mia={{members: {members}, nonmembers: {nonmembers}, attacks: [loss], n_boot: 20}}",
        f"extraction={{data: {members}, prefix_lens: [4], suffix_len: 4}}",
    ]
    run_sweep(load_sweep_config(None, overrides))
    assert calls == [str(tiny_model_dir)]
