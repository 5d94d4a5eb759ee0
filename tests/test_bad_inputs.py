"""Bad input gives one line on stderr and exit 2, before any model loads: never a traceback, never a silent result.

Each case writes tiny files to ``tmp_path`` and runs ``auditor.cli.main.main``; ``load_model`` is replaced by a
function that fails the test, so every error here is raised before a checkpoint would be loaded.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from auditor.cli.main import build_parser, main

BAD_BYTES = b"\xff\xfe\x80 bad"


@pytest.fixture(autouse=True)
def _no_model_loads(no_model_loads):
    """Every case here: no model may load (conftest's ``no_model_loads``)."""


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    """Tiny good and bad inputs, by name."""
    good = b"".join(b'{"id": "%d", "text": "text number %d is here"}\n' % (i, i) for i in range(4))
    raw = {
        "ok.jsonl": good,
        "bad.jsonl": good + b'{"id": "9", "text": "' + BAD_BYTES + b'"}\n',
        "bad.csv": b"id,text\n1,fine\n2," + BAD_BYTES + b"\n",
        "extra.csv": b"id,text\n1,one, with a comma\n",
        "empty.jsonl": b"",
        "bad.yaml": b"model: lab\nout: " + BAD_BYTES + b"\n",
        "broken.yaml": b"model: [lab\n",
        "neg_seed.yaml": b"model: lab\nseed: -1\n",
        "nan.yaml": b"lr: .nan\n",
        "policy.yaml": b"rules: ['mia.loss.auc " + BAD_BYTES + b" <= 0.6']\n",
    }
    for name, data in raw.items():
        (tmp_path / name).write_bytes(data)
    return {name: str(tmp_path / name) for name in raw} | {"dir": str(tmp_path), "out": str(tmp_path / "out")}


def _mia(f: dict[str, str], *extra: str, members: str = "ok.jsonl") -> list[str]:
    return ["mia", "--model", "lab", "--members", f[members], "--nonmembers", f["ok.jsonl"], "--out", f["out"], *extra]


def _gen(f: dict[str, str], *extra: str) -> list[str]:
    return ["generate-extract", "--model", "lab", "--corpus", f["ok.jsonl"], "--out", f["out"], *extra]


def _extract(f: dict[str, str], *extra: str, data: str = "ok.jsonl") -> list[str]:
    return ["extract", "--model", "lab", "--data", f[data], "--out", f["out"], *extra]


def _unlearn(f: dict[str, str], *extra: str, forget: str = "ok.jsonl") -> list[str]:
    return ["unlearn", "--model", "lab", "--method", "npo", "--forget", f[forget], "--out", f["out"], *extra]


# (case id, argv builder, words the one line must contain)
CASES = [
    # 1. text that is not UTF-8: the file, the line and byte offset, and the fix
    ("jsonl-not-utf8", lambda f: _mia(f, members="bad.jsonl"), ["bad.jsonl:5:", "offset", "save the file as UTF-8"]),
    ("csv-not-utf8", lambda f: _mia(f, members="bad.csv"), ["bad.csv:3:", "byte 0xff", "save the file as UTF-8"]),
    ("forget-not-utf8", lambda f: _unlearn(f, forget="bad.jsonl"), ["bad.jsonl:5:", "UTF-8"]),
    ("extract-not-utf8", lambda f: _extract(f, data="bad.csv"), ["bad.csv:3:", "UTF-8"]),
    # 2. a YAML config that is not UTF-8
    ("yaml-not-utf8", lambda f: ["sweep", f["bad.yaml"]], ["bad.yaml:2:", "save the file as UTF-8"]),
    ("unlearn-config-not-utf8", lambda f: _unlearn(f, "--config", f["bad.yaml"]), ["bad.yaml:2:", "UTF-8"]),
    ("policy-not-utf8", lambda f: ["gate", f["dir"], "--policy", f["policy.yaml"]], ["policy.yaml:1:", "UTF-8"]),
    # 3. --n-boot 0
    ("n-boot-0", lambda f: _mia(f, "--n-boot", "0"), ["--n-boot", ">= 1"]),
    # 4. negative seeds, in every command with --seed, and in configs
    ("mia-seed", lambda f: _mia(f, "--seed", "-1"), ["--seed", ">= 0"]),
    ("gen-seed", lambda f: _gen(f, "--seed", "-1"), ["--seed", ">= 0"]),
    (
        "exposure-seed",
        lambda f: ["exposure", "--model", "lab", "--canaries", f["ok.jsonl"], "--out", f["out"], "--seed", "-1"],
        ["--seed", ">= 0"],
    ),
    ("unlearn-seed", lambda f: _unlearn(f, "--seed", "-1"), ["--seed", ">= 0"]),
    ("tasks-seed", lambda f: ["tasks", "build", "--seed", "-1", "--out", f["out"]], ["--seed", ">= 0"]),
    ("capability-seed", lambda f: ["capability", "--model", "lab", "--out", f["out"], "--seed", "-1"], [">= 0"]),
    ("set-seed", lambda f: ["sweep", "--model", "lab", "--set", "seed=-1"], ["seed", ">= 0"]),
    ("yaml-seed", lambda f: ["sweep", f["neg_seed.yaml"]], ["seed", ">= 0"]),
    ("unlearn-set-seed", lambda f: _unlearn(f, "--set", "seed=-3"), ["seed", ">= 0"]),
    # 5. nan, inf and out-of-range floats
    ("temperature-nan", lambda f: _gen(f, "--temperature", "nan"), ["--temperature", "finite", "> 0"]),
    ("temperature-inf", lambda f: _gen(f, "--temperature", "inf"), ["--temperature", "finite"]),
    ("temperature-0", lambda f: _gen(f, "--temperature", "0"), ["--temperature", "> 0"]),
    ("top-p-nan", lambda f: _gen(f, "--top-p", "nan"), ["--top-p", "<= 1"]),
    ("top-p-big", lambda f: _gen(f, "--top-p", "1.5"), ["--top-p", "<= 1"]),
    ("approx-nan", lambda f: _extract(f, "--approx-threshold", "nan"), ["--approx-threshold", "finite"]),
    ("lr-nan", lambda f: _unlearn(f, "--lr", "nan"), ["--lr", "finite"]),
    ("beta-inf", lambda f: _unlearn(f, "--beta", "inf"), ["--beta", "finite"]),
    ("prune-fraction-1", lambda f: _unlearn(f, "--prune-fraction", "1"), ["--prune-fraction", "< 1"]),
    ("set-lr-nan", lambda f: _unlearn(f, "--set", "lr=.nan"), ["lr", "finite"]),
    ("yaml-lr-nan", lambda f: _unlearn(f, "--config", f["nan.yaml"]), ["lr", "finite"]),
    ("sparsities-nan", lambda f: ["sweep", "--model", "lab", "--sparsities", "0,nan"], ["--sparsities", "finite"]),
    ("set-sparsities-inf", lambda f: ["sweep", "--model", "lab", "--set", "sparsities=[0,.inf]"], ["finite"]),
    # 8. other malformed values
    ("batch-size-negative", lambda f: _mia(f, "--batch-size", "-3"), ["--batch-size"]),
    ("max-tokens-junk", lambda f: _mia(f, "--max-tokens", "junk"), ["--max-tokens", "junk"]),
    ("samples-0", lambda f: _gen(f, "--samples", "0"), ["--samples", ">= 1"]),
    ("tasks-limit-0", lambda f: ["tasks", "build", "--limit", "0", "--out", f["out"]], ["--limit", ">= 1"]),
    (
        "capability-limit-negative",
        lambda f: ["capability", "--model", "lab", "--out", f["out"], "--limit", "-2"],
        ["--limit"],
    ),
    ("sweep-limit-0", lambda f: ["sweep", "--model", "lab", "--limit", "0"], ["--limit", ">= 1"]),
    ("empty-file", lambda f: _mia(f, members="empty.jsonl"), ["empty.jsonl", "empty"]),
    ("folder-for-file", lambda f: _mia(f, members="dir"), ["is a folder"]),
    ("folder-for-config", lambda f: _unlearn(f, "--config", f["dir"]), ["is a folder", "YAML config file"]),
    ("folder-for-policy", lambda f: ["gate", f["dir"], "--policy", f["dir"]], ["is a folder"]),
    ("missing-text-column", lambda f: _mia(f, "--text-column", "body"), ["no column 'body'", "columns are: id, text"]),
    ("missing-id-column", lambda f: _mia(f, "--id-column", "key"), ["no id column 'key'"]),
    ("csv-extra-fields", lambda f: _mia(f, members="extra.csv"), ["extra.csv", "more fields", "quote"]),
    ("yaml-syntax", lambda f: ["sweep", f["broken.yaml"]], ["broken.yaml", "not valid YAML", "line 2"]),
    ("set-bad-yaml", lambda f: ["sweep", "--model", "lab", "--set", "methods=[wanda"], ["--set", "not valid YAML"]),
    ("set-empty-key-part", lambda f: ["sweep", "--model", "lab", "--set", "mia..limit=3"], ["empty part"]),
]


@pytest.mark.parametrize("build_argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(build_argv, words, files, capsys):
    argv = build_argv(files)
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_recall_needs_two_nonmembers_before_the_model_loads(files, tmp_path, capsys):
    one = tmp_path / "one.jsonl"
    one.write_text('{"id": "a", "text": "just one"}\n', encoding="utf-8")
    argv = ["mia", "--model", "lab", "--members", files["ok.jsonl"], "--nonmembers", str(one), "--out", files["out"]]
    argv += ["--attacks", "loss,recall"]  # recall is opt-in (not in DEFAULT_ATTACKS)
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ReCaLL needs at least 2 non-members" in err[0]


# ---------------------------------------------------------------- 7. output folders that cannot be written


def _denied(path: Path):
    def raise_it(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    return raise_it


def test_report_into_a_read_only_run_is_one_line(tmp_path, monkeypatch, capsys):

    monkeypatch.setattr("auditor.report.build.write_report", _denied(tmp_path / "report.md"))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"auditor: error: cannot write {tmp_path}: permission denied; make the folder writable, "
                   "or copy it somewhere writable"]  # fmt: skip


def test_gate_into_a_read_only_run_is_one_line(tmp_path, monkeypatch, capsys):
    import auditor.cli.audit as audit_cli

    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: ['mia.loss.auc <= 0.6']\n", encoding="utf-8")
    monkeypatch.setattr(audit_cli, "_gate_run", _denied(tmp_path / "gate.json"))
    assert main(["gate", str(tmp_path), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {tmp_path}: permission denied" in err[0]


def test_command_with_out_names_the_flag(tmp_path, monkeypatch, capsys):
    import auditor.cli.capability as capability_cli

    out = tmp_path / "ro" / "tasks"
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(capability_cli, "build_task", _denied(out))
    assert main(["tasks", "build", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"auditor: error: cannot write {tmp_path / 'ro'}: permission denied; pick a writable --out"]


def test_an_os_error_that_names_no_path_is_not_hidden(tmp_path, monkeypatch):

    def boom(*args, **kwargs):
        raise OSError("something else")

    monkeypatch.setattr("auditor.report.build.write_report", boom)
    with pytest.raises(OSError, match="something else"):
        main(["report", str(tmp_path)])


# ---------------------------------------------------------------- 6. N:M structure "2:4" stays a string


def test_structure_2_4_from_yaml_set_and_flag_is_the_string(tmp_path):
    from auditor.cli.prune import sweep_overrides
    from auditor.pipeline.sweep import load_sweep_config

    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("model: lab\nstructure: 2:4\n", encoding="utf-8")
    assert load_sweep_config(str(cfg), []).structure == "2:4"
    assert load_sweep_config(None, ["model=lab", "structure=2:4"]).structure == "2:4"
    flags = sweep_overrides(build_parser().parse_args(["sweep", "--model", "lab", "--structure", "2:4"]))
    assert load_sweep_config(None, flags).structure == "2:4"


def test_config_yaml_keeps_numbers_but_not_base_60():
    from auditor.config import parse_yaml

    assert parse_yaml("a: 2:4\nb: [1:30, 3:8]\nc: 12\nd: 0.5\ne: 0x10\nf: true\ng: ~", "t") == {
        "a": "2:4", "b": ["1:30", "3:8"], "c": 12, "d": 0.5, "e": 16, "f": True, "g": None
    }  # fmt: skip


# ---------------------------------------------------------------- loaders: what is fine stays fine


def test_bom_and_crlf_files_load(tmp_path):
    from auditor.inputs.data import load_texts

    csv = tmp_path / "bom.csv"
    csv.write_bytes("\ufeffid,text\r\n1,é one\r\n2,two\r\n".encode())
    got = load_texts(csv)
    assert got.ids == ["1", "2"] and got.texts == ["é one", "two"]
    jsonl = tmp_path / "crlf.jsonl"
    jsonl.write_bytes(b'{"id": "a", "text": "x\\u2028y"}\r\n\r\n{"id": "b", "text": "z"}\r\n')
    assert load_texts(jsonl).texts == ["x\u2028y", "z"]
