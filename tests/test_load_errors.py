"""A model that cannot load gives one line on stderr (the problem and its fix) and exit 2, never a traceback;
where the problem can be seen beforehand (bad options, truncated weights, an offline dataset), before any
weights are read and before the run folder is made.

Checkpoints are copies of the ``tiny_model_dir`` fixture in ``tmp_path``, broken on purpose.
"""

from __future__ import annotations

import json
import pathlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import auditor.capability.lmeval as lmeval
import auditor.models.attention as attention
import auditor.models.checks as checks
import auditor.models.pretrained as pretrained
from auditor.cli.main import main
from auditor.errors import ConfigError

TEXTS = [f"text number {i} is here and it is long enough" for i in range(6)]


@pytest.fixture()
def model(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny checkpoint, free to break."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture()
def no_weights(monkeypatch):
    """Fail the test if any weights are read (the problem was not caught before loading)."""

    class Refuse:
        @staticmethod
        def from_pretrained(*args, **kwargs):
            raise AssertionError("weights were loaded: the problem was not caught before loading")

    monkeypatch.setattr(pretrained, "AutoModelForCausalLM", Refuse)


def _data(tmp_path: Path) -> list[str]:
    """``--members M --nonmembers N``: tiny text files in ``tmp_path``."""
    for name, texts in (("m.jsonl", TEXTS[:3]), ("n.jsonl", TEXTS[3:])):
        rows = [json.dumps({"id": f"{name}{i}", "text": t}) for i, t in enumerate(texts)]
        (tmp_path / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return ["--members", str(tmp_path / "m.jsonl"), "--nonmembers", str(tmp_path / "n.jsonl")]


def _mia(tmp_path: Path, source: Path | str, *extra: str) -> list[str]:
    data = _data(tmp_path)
    return [
        "mia",
        "--model",
        str(source),
        *data,
        "--n-boot",
        "10",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "o"),
        *extra,
    ]


def _sweep(tmp_path: Path, source: Path | str, *extra: str) -> list[str]:
    return ["sweep", "--model", str(source), "--out", str(tmp_path / "o"), "--sparsities", "0", *extra]


def _one_line(capsys, code: int, words: list[str]) -> str:
    """The command's exit code is 2 and its stderr one line holding ``words``, no traceback."""
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("auditor: error: "), lines
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _truncate(folder: Path) -> None:
    f = folder / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


# (id, extra flags, words the line must hold); each refused before any weights are read
BEFORE_LOADING = [
    ("unknown-model-arg", ["--model-args", "foo=bar"], ["'foo'", "from_pretrained option", "config.json"]),
    ("empty-peft", ["--model-args", "peft="], ["peft= has no value"]),
    ("missing-peft-folder", ["--model-args", "peft=./no-such-adapter"], ["peft=./no-such-adapter", "no such folder"]),
    ("revision-on-folder", ["--revision", "main"], ["--revision applies to hub ids", "local folder"]),
    ("cache-dir-is-file", ["--cache-dir", "{file}"], ["--cache-dir", "afile", "not a folder"]),
    ("flash-attn-missing", ["--attn-implementation", "flash_attention_2"], ["flash_attn", "sdpa"]),
    ("flash-attn-in-model-args", ["--model-args", "attn_implementation=flash_attention_2"], ["flash_attn"]),
    ("unknown-attention", ["--attn-implementation", "bogus"], ["bogus", "unknown attention", "sdpa"]),
]


@pytest.mark.parametrize("flags, words", [c[1:] for c in BEFORE_LOADING], ids=[c[0] for c in BEFORE_LOADING])
def test_bad_option_is_one_line_before_loading(model, tmp_path, no_weights, monkeypatch, capsys, flags, words):
    monkeypatch.setattr(attention, "installed", lambda module: False)  # as on a machine without flash-attn
    (tmp_path / "afile").write_text("x")
    flags = [f.replace("{file}", str(tmp_path / "afile")) for f in flags]
    _one_line(capsys, main(["-q", *_mia(tmp_path, model, *flags)]), words)
    assert not (tmp_path / "o").exists()  # refused before the run folder was made


def test_good_model_args_pass_the_check(model):
    checks.check_model_arg_keys(model, {"low_cpu_mem_usage": True, "use_cache": False, "attn_implementation": "sdpa"})


@pytest.mark.parametrize("command", ["mia", "info", "sweep"])
def test_truncated_safetensors_names_the_file_before_loading(model, tmp_path, no_weights, capsys, command):
    _truncate(model)
    argv = {
        "mia": _mia(tmp_path, model),
        "info": ["info", str(model)],
        "sweep": _sweep(tmp_path, model, "--families", "mia", *_data(tmp_path)),
    }[command]
    _one_line(capsys, main(["-q", *argv]), [str(model / "model.safetensors"), "truncated", "re-download"])
    assert not (tmp_path / "o").exists()


def test_corrupt_header_and_trailing_bytes_are_named(model):
    f = model / "model.safetensors"
    f.write_bytes(f.read_bytes() + b"junk")
    assert "4 bytes after its last tensor" in checks.safetensors_problem(f)
    f.write_bytes((10**6).to_bytes(8, "little") + b"{}")
    assert "header claims" in checks.safetensors_problem(f)
    f.write_bytes((4).to_bytes(8, "little") + b"{no}")
    assert "not valid safetensors JSON" in checks.safetensors_problem(f)


def test_load_time_fallbacks_are_one_line(model, tmp_path, monkeypatch, capsys):
    """What slips past the checks (here: the checks switched off) is still one line, naming key and file."""
    monkeypatch.setattr(checks, "check_model_arg_keys", lambda folder, options: None)
    monkeypatch.setattr(checks, "check_safetensors", lambda folder: None)
    _one_line(capsys, main(["-q", "info", str(model), "--model-args", "foo=bar"]), ["'foo'", "does not take"])
    _truncate(model)
    _one_line(capsys, main(["-q", "info", str(model)]), [str(model / "model.safetensors"), "re-download"])


def test_pickle_the_safe_unpickler_refuses_is_one_line(model, capsys):
    weights = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    weights["extra"] = pathlib.PurePosixPath("x")  # a global outside torch's weights_only allow-list
    torch.save(weights, model / "pytorch_model.bin")
    code = main(["-q", "info", str(model), "--allow-pickle"])
    line = _one_line(capsys, code, [str(model / "pytorch_model.bin"), "weights_only", "safetensors"])
    assert "trusted" in line


def test_weights_error_fixes_and_leaves_bugs_alone(tmp_path):
    line = pretrained.weights_error(ImportError("FlashAttention2 has been toggled on"), "m", None)
    assert line is not None and "pip install flash-attn" in line and "sdpa" in line
    assert pretrained.weights_error(TypeError("unsupported operand type(s)"), "m", None) is None  # a bug: raised


def _offline(monkeypatch, tasks: dict[str, dict]) -> None:
    """lm-eval's index holding ``tasks`` (name -> config), and the datasets library offline."""
    import datasets.config
    import huggingface_hub.constants

    index = {n: SimpleNamespace(cfg=cfg) for n, cfg in tasks.items()}
    monkeypatch.setitem(lmeval._INDEX, "manager", SimpleNamespace(all_tasks=list(tasks), task_index=index))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_lm_eval_dataset_not_cached_offline_fails_before_loading(
    tiny_model_dir, tmp_path, no_weights, monkeypatch, capsys
):
    _offline(monkeypatch, {"hellaswag": {"dataset_path": "memaudit-test/no-such-dataset", "dataset_name": None}})
    code = main(["-q", *_sweep(tmp_path, tiny_model_dir, "--families", "lm_eval:hellaswag")])
    _one_line(capsys, code, ["lm_eval:hellaswag", "memaudit-test/no-such-dataset", "machine with internet"])
    assert not (tmp_path / "o").exists()


def test_lm_eval_packaged_dataset_is_not_checked(monkeypatch):
    _offline(monkeypatch, {"local": {"dataset_path": "json", "dataset_name": None}})
    lmeval.check_lm_eval_tasks(["local"])


def test_lm_eval_download_failure_at_run_time_is_one_line(monkeypatch):
    import lm_eval

    def unreachable(**kwargs):
        raise ConnectionError("Couldn't reach 'Rowan/hellaswag' on the Hub (ConnectError)")

    monkeypatch.setattr(lmeval, "_lm", lambda *args: None)
    monkeypatch.setattr(lm_eval, "simple_evaluate", unreachable)
    with pytest.raises(ConfigError, match="lm_eval:hellaswag: cannot download its dataset.*HF_DATASETS_OFFLINE=1"):
        lmeval.run_lm_eval(None, None, ["hellaswag"], task_manager=object())
