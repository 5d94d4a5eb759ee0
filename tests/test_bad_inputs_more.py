"""More bad input refused with one line on stderr and exit 2, before any model loads: keys given twice in a YAML
file, sweep sparsities outside [0, 1), unlearn-compare's MIA attack and holdout, a forecast of the final model by
itself, members and non-members from one file, ``dupcount`` columns, corpora and ids, and a few out-of-range keys.

Texts in both members and non-members are not refused but dropped from both and counted in the records'
``skipped`` (the last test, which loads a tiny model).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli.main import main


def _rows(prefix: str, n: int, start: int = 0) -> str:
    return "".join(
        json.dumps({"id": f"{prefix}{i}", "text": f"{prefix} text number {i} is here", "source": "web"}) + "\n"
        for i in range(start, start + n)
    )


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    """Tiny inputs, by name; ``dir`` is the folder, ``out`` an output path in it."""
    unlearn = "base: lab\nforget: {d}/m.jsonl\nretain: {d}/r.jsonl\nholdout: {d}/n.jsonl\nmethods: [npo]\n"
    raw = {
        "m.jsonl": _rows("m", 5),
        "m_copy.jsonl": _rows("m", 5),
        "n.jsonl": _rows("n", 5),
        "r.jsonl": _rows("r", 3),
        "dupid.jsonl": _rows("m", 2) + _rows("m", 1),
        "empty.jsonl": "",
        "blank.jsonl": "\n\n",
        "audit_dup.yaml": "model: lab\nlab: standard\nmia:\n  attacks: [loss]\nmia:\n  attacks: [zlib]\n",
        "sweep_dup.yaml": "model: lab\nmethods: [magnitude]\nmethods: [wanda]\n",
        "unlearn_dup.yaml": "lr: 0.001\nepochs: 2\nlr: 0.1\n",
        "policy_dup.yaml": "rules:\n  - mia.loss.auc <= 0.9\nrules:\n  - mia.loss.auc <= 0.1\n",
        "audit_neg.yaml": "model: lab\nlab: standard\nsweep:\n  enabled: true\n  sparsities: [0, -0.1]\n",
        "audit_big.yaml": "model: lab\nlab: standard\nsweep:\n  enabled: true\n  sparsities: [0, 0.5, 1.5]\n",
        "audit_nm.yaml": "model: lab\nlab: standard\nsweep:\n  enabled: true\n  structure: '4:4'\n",
        "sweep_big.yaml": "model: lab\nsparsities: [0.5, 1.5]\n",
        "audit_same.yaml": "model: lab\nmia:\n  members: {d}/m.jsonl\n  nonmembers: {d}/m.jsonl\n"
        "extraction: {{enabled: false}}\nexposure: {{enabled: false}}\n",
        "uc.yaml": unlearn,
    }
    for name, text in raw.items():
        (tmp_path / name).write_text(text.format(d=tmp_path) if name.endswith(".yaml") else text, encoding="utf-8")
    return {name: str(tmp_path / name) for name in raw} | {"dir": str(tmp_path), "out": str(tmp_path / "out")}


def _uc(f: dict[str, str], *sets: str) -> list[str]:
    return ["unlearn-compare", f["uc.yaml"], "--set", f"out={f['out']}", *(x for s in sets for x in ("--set", s))]


def _sweep_mia(f: dict[str, str], members: str, nonmembers: str) -> list[str]:
    return ["sweep", "--model", "lab", "--families", "mia", "--members", f[members], "--nonmembers", f[nonmembers],
            "--out", f["out"]]  # fmt: skip


def _dupcount(f: dict[str, str], *extra: str, corpus: str = "n.jsonl", data: str = "m.jsonl") -> list[str]:
    out = str(Path(f["dir"]) / "counted.jsonl")
    return ["dupcount", "--corpus", f[corpus], "--data", f[data], "--out", out, *extra]


_SHORT = ("--prefix-len", "2", "--suffix-len", "2")  # the tiny texts are long enough for these

# (case id, argv builder, words the one line must contain)
CASES = [
    # 1. a key given twice in a YAML file: the file, the line and the key
    ("dup-key-audit", lambda f: ["audit", f["audit_dup.yaml"]], ["audit_dup.yaml:5:", "'mia'", "twice", "line 3"]),
    ("dup-key-sweep", lambda f: ["sweep", f["sweep_dup.yaml"]], ["sweep_dup.yaml:3:", "'methods'", "twice"]),
    (
        "dup-key-policy",
        lambda f: ["gate", f["dir"], "--policy", f["policy_dup.yaml"]],
        ["policy_dup.yaml:3:", "'rules'", "twice", "line 1"],
    ),
    (
        "dup-key-unlearn-config",
        lambda f: [
            "unlearn",
            "--model",
            "lab",
            "--method",
            "npo",
            "--forget",
            f["m.jsonl"],
            "--out",
            f["out"],
            "--config",
            f["unlearn_dup.yaml"],
        ],
        ["unlearn_dup.yaml:3:", "'lr'", "twice"],
    ),
    # 2. sweep sparsities outside [0, 1) and bad N:M patterns, at config parse
    ("audit-sweep-negative", lambda f: ["audit", f["audit_neg.yaml"]], ["sweep", "sparsities", "-0.1", "[0, 1)"]),
    ("audit-sweep-above-1", lambda f: ["audit", f["audit_big.yaml"]], ["sweep", "sparsities", "1.5", "[0, 1)"]),
    ("audit-sweep-n-m", lambda f: ["audit", f["audit_nm.yaml"]], ["sweep", "'4:4'", "0 < N < M"]),
    ("sweep-yaml-above-1", lambda f: ["sweep", f["sweep_big.yaml"]], ["sparsities", "1.5", "[0, 1)"]),
    ("sweep-flag-negative", lambda f: ["sweep", "--model", "lab", "--sparsities", "0,-0.1"], ["sparsities", "-0.1"]),
    ("sweep-flag-n-m", lambda f: ["sweep", "--model", "lab", "--structure", "5:4"], ["'5:4'", "0 < N < M"]),
    # 3. unlearn-compare: the MIA attack, the method config, and a holdout that is the forget set
    ("uc-attack-typo", lambda f: _uc(f, "mia_attack=min_kk"), ["mia_attack", "unknown attack 'min_kk'", "min_k"]),
    ("uc-attack-reference", lambda f: _uc(f, "mia_attack=reference"), ["mia_attack", "'reference'", "min_k@0.4"]),
    ("uc-method-config-typo", lambda f: _uc(f, "method_config.lrr=1"), ["method_config.lrr", "unknown key"]),
    ("uc-holdout-same-file", lambda f: _uc(f, f"holdout={f['m.jsonl']}"), ["forget", "holdout", "same file"]),
    ("uc-holdout-same-texts", lambda f: _uc(f, f"holdout={f['m_copy.jsonl']}"), ["forget", "holdout", "share 5"]),
    ("uc-holdout-is-retain", lambda f: _uc(f, f"holdout={f['r.jsonl']}"), ["retain", "holdout", "same file"]),
    # 4. forecast: an early checkpoint that is the final one
    (
        "forecast-early-is-final",
        lambda f: ["forecast", "--early", "lab", "--final", "lab", "--data", f["m.jsonl"], *_SHORT, "--out", f["out"]],
        ["--early lab", "--final", "earlier checkpoint"],
    ),
    (
        "forecast-early-same-folder",
        lambda f: [
            "forecast",
            "--early",
            "lab:standard",
            "--final",
            "lab",
            "--data",
            f["m.jsonl"],
            *_SHORT,
            "--out",
            f["out"],
        ],
        ["--early lab:standard", "--final model lab", "both are"],
    ),
    # 5. members and non-members from one file (texts shared between two files: the last test)
    ("sweep-members-same-file", lambda f: _sweep_mia(f, "m.jsonl", "m.jsonl"), ["members", "non-members", "same file"]),
    ("audit-members-same-file", lambda f: ["audit", f["audit_same.yaml"]], ["members", "non-members", "same file"]),
    # 6. dupcount: a column the data has, the id column, an empty corpus, duplicate ids
    ("dupcount-column-id", lambda f: _dupcount(f, "--column", "id"), ["--column 'id'", "id column", "another name"]),
    (
        "dupcount-column-exists",
        lambda f: _dupcount(f, "--column", "source"),
        ["--column 'source'", "m.jsonl", "already has", "another name"],
    ),
    ("dupcount-empty-corpus", lambda f: _dupcount(f, corpus="empty.jsonl"), ["empty.jsonl", "0 documents"]),
    ("dupcount-blank-corpus", lambda f: _dupcount(f, corpus="blank.jsonl"), ["blank.jsonl", "no documents"]),
    ("dupcount-duplicate-ids", lambda f: _dupcount(f, data="dupid.jsonl"), ["dupid.jsonl", "duplicate ids", "m0"]),
    # 7. more keys out of range
    ("set-batch-size-0", lambda f: ["sweep", "--model", "lab", "--set", "batch_size=0"], ["batch_size", ">= 1"]),
    (
        "set-calibration-samples-0",
        lambda f: ["sweep", "--model", "lab", "--set", "calibration.n_samples=0"],
        ["calibration.n_samples", ">= 1"],
    ),
    ("uc-knowmem-0", lambda f: _uc(f, "knowmem_max_new_tokens=0"), ["knowmem_max_new_tokens", ">= 1"]),
    ("uc-onion-margin", lambda f: _uc(f, "onion_margin=-0.5"), ["onion_margin", "[0, 1)"]),
    (
        "forecast-data-twice",
        lambda f: ["forecast", "--early", "lab", "--final", "x", "--data", f["m.jsonl"], "--data", f["m.jsonl"]],
        ["--data", "m.jsonl", "given twice"],
    ),
]


@pytest.mark.parametrize("build_argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(build_argv, words, files, no_model_loads, capsys):
    assert main(["-q", *build_argv(files)]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not Path(files["out"]).exists()  # refused before a run folder was made


def test_the_yaml_reader_keeps_merge_keys_and_refuses_nested_duplicates():
    from auditor.config import parse_yaml
    from auditor.errors import ConfigError

    assert parse_yaml("a: &x {k: 1}\nb:\n  <<: *x\n  k: 2\n", "t") == {"a": {"k": 1}, "b": {"k": 2}}
    with pytest.raises(ConfigError, match=r"^t:3: key 'k' is given twice \(first at line 2\)"):
        parse_yaml("mia:\n  k: 1\n  k: 2\n", "t")


def test_shared_texts_are_dropped_from_both_and_counted(tiny_model_dir, tmp_path, capsys, caplog):
    """Two of the non-members are also members: both copies leave the scoring (neither label fits them), one
    warning says so, and every figure's ``n`` and ``skipped`` account for all 14 texts given."""
    members, nonmembers = tmp_path / "m.jsonl", tmp_path / "n.jsonl"
    shared = _rows("n", 2)
    members.write_text(_rows("m", 6) + shared.replace('"id": "n', '"id": "copy-n'), encoding="utf-8")
    nonmembers.write_text(_rows("n", 6), encoding="utf-8")
    out = tmp_path / "run"
    argv = ["mia", "--model", str(tiny_model_dir), "--members", str(members), "--nonmembers", str(nonmembers)]
    assert main([*argv, "--attacks", "loss", "--n-boot", "10", "--out", str(out)]) == 0
    warned = [r.getMessage() for r in caplog.records if "in both members" in r.getMessage()]
    assert len(warned) == 1 and "2 text(s)" in warned[0], warned
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines() if x.strip()]
    loss = [r for r in records if r.get("task") == "loss" and r.get("metric") == "auc"]
    assert loss and loss[0]["n"] == 6 + 4 and loss[0]["extra"]["n_members"] == 6
    assert loss[0]["extra"]["n_nonmembers"] == 4
    assert loss[0]["skipped"] == {"in both members and non-members": 4}
    assert all(r["n"] + sum(r["skipped"].values()) == 14 for r in records if r.get("n") is not None)
    scored = {json.loads(x)["id"] for x in (out / "samples" / "mia_scores.jsonl").read_text().splitlines()}
    assert not scored & {"n0", "n1", "copy-n0", "copy-n1"} and len(scored) == 10
    capsys.readouterr()
    again = ["mia", "--model", str(tiny_model_dir), "--members", str(members), "--nonmembers", str(members)]
    assert main(["-q", *again, "--n-boot", "10", "--out", str(tmp_path / "same")]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if "error" in x]  # (auditor mia loads the model first)
    assert len(err) == 1 and "members and non-members are the same file" in err[0], err
