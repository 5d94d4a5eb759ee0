"""A run's identity sees every byte of its inputs: full sha256 digests, cached by path and stat, and a run folder
whose first run measured nothing binds nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import BinaryIO

import pytest

import auditor.store.digest_cache as digest_cache
from auditor.cli.main import main
from auditor.store.identity import file_digest, folder_fingerprint, path_digest, tree_digest

pytestmark = pytest.mark.usefixtures("one_thread")

MIB = 1 << 20
SHIPPED = Path(__file__).resolve().parents[1] / "auditor" / "lab" / "standard" / "model"


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A digest cache of the test's own (never the home folder's)."""
    monkeypatch.setenv("MEMAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(digest_cache, "_MEMO", {})  # the test's digests only, read from the cache folder
    return tmp_path / "cache" / "digests"


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files hashed (read through) so far, one entry per full read."""
    seen: list[str] = []
    real = digest_cache.sha256_of

    def counting(fh: BinaryIO) -> str:
        seen.append(fh.name)
        return real(fh)

    monkeypatch.setattr(digest_cache, "sha256_of", counting)
    return seen


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _flip_middle_byte(path: Path) -> None:
    """One byte changed halfway through ``path``: its first and last MiB stay as they were."""
    data = bytearray(path.read_bytes())
    head, tail = bytes(data[:MIB]), bytes(data[-MIB:])
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert path.read_bytes()[:MIB] == head and path.read_bytes()[-MIB:] == tail


def _texts(tmp_path: Path) -> tuple[Path, Path]:
    files = []
    for name, word in (("m", "river"), ("n", "mountain")):
        rows = [
            {"id": f"{name}{i}", "text": f"The {word} of item {i} is {i * 7 % 13}. Q: What is it?"} for i in range(8)
        ]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        files.append(tmp_path / f"{name}.jsonl")
    return files[0], files[1]


def _mia(model: Path, members: Path, nonmembers: Path, out: Path, *extra: str) -> int | None:
    """``auditor mia`` in this process; None when it raised (a model that does not load may not be an
    AuditorError yet)."""
    argv = ["-q", "mia", "--model", str(model), "--members", str(members), "--nonmembers", str(nonmembers)]
    try:
        return main([*argv, "--out", str(out), "--n-boot", "10", "--no-blind", *extra])
    except Exception:
        return None


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [x for x in capsys.readouterr().err.strip().splitlines() if x.startswith("auditor: error")]
    assert len(err) == 1, err
    return err[0]


# ---------------------------------------------------------------- every byte


def test_the_digest_is_the_sha256_of_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(digest_cache, "RACY_S", 0.0)
    f = tmp_path / "data.bin"
    f.write_bytes(os.urandom(3 * MIB + 17))  # more than one chunk, not a multiple of it
    assert file_digest(f) == _sha(f)  # computed
    assert file_digest(f) == _sha(f)  # remembered
    assert path_digest(str(f)) == _sha(f)
    (tmp_path / "empty").write_bytes(b"")
    assert file_digest(tmp_path / "empty") == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_a_byte_changed_in_the_middle_of_the_weights_changes_the_fingerprint(tmp_path):
    lab = tmp_path / "lab"
    ckpt = lab / "model"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(os.urandom(5 * MIB))
    (lab / "members.jsonl").write_text('{"id": "a", "text": "x"}\n')
    before = folder_fingerprint(ckpt), tree_digest(lab), path_digest(str(ckpt))
    _flip_middle_byte(ckpt / "model.safetensors")
    after = folder_fingerprint(ckpt), tree_digest(lab), path_digest(str(ckpt))
    assert all(b != a for b, a in zip(before, after, strict=True))


def test_a_rerun_on_weights_changed_in_the_middle_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(digest_cache, "RACY_S", 0.0)  # remember every digest: the cache must not hide the change
    model = tmp_path / "model"
    shutil.copytree(SHIPPED, model)
    weights = model / "model.safetensors"
    assert weights.stat().st_size > 2 * MIB
    members, nonmembers = _texts(tmp_path)
    assert _mia(model, members, nonmembers, tmp_path / "run") == 0
    assert _mia(model, members, nonmembers, tmp_path / "run") == 0  # same inputs: resumed
    before = folder_fingerprint(model)
    _flip_middle_byte(weights)
    assert folder_fingerprint(model) != before
    capsys.readouterr()
    assert _mia(model, members, nonmembers, tmp_path / "run") == 2
    line = _error_line(capsys)
    assert "holds results for other inputs" in line and "checkpoint.model.fingerprint: content changed" in line


# ---------------------------------------------------------------- the cache


def test_an_unchanged_file_is_not_read_again(tmp_path, monkeypatch, reads, cache):
    monkeypatch.setattr(digest_cache, "RACY_S", 0.0)
    f = tmp_path / "w.safetensors"
    f.write_bytes(os.urandom(MIB))
    first = file_digest(f)
    digest_cache._MEMO.clear()  # a new process: only the cache folder remembers
    assert file_digest(f) == first and file_digest(str(f)) == first
    assert len(reads) == 1 and len(list(cache.glob("*.json"))) == 1
    link = tmp_path / "link.safetensors"  # a hub snapshot's files are links to blobs: one entry per real file
    link.symlink_to(f)
    assert file_digest(link) == first and len(reads) == 1


def test_a_touched_or_rewritten_file_is_hashed_again(tmp_path, monkeypatch, reads):
    monkeypatch.setattr(digest_cache, "RACY_S", 0.0)
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 1000)
    old = file_digest(f)
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    assert file_digest(f) == old and len(reads) == 2
    f.write_bytes(b"b" * 1000)  # same size, same inode, new content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))  # a later tick of the file system's clock
    assert file_digest(f) == _sha(f) != old and len(reads) == 3
    f.unlink()
    f.write_bytes(b"c" * 1000)  # replaced at the same path
    assert file_digest(f) == _sha(f) and len(reads) == 4


def test_a_file_changed_just_now_is_hashed_but_not_remembered(tmp_path, reads, cache):
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 1000)  # a rewrite within the same clock tick could keep this stat: not remembered
    assert file_digest(f) == file_digest(f) == _sha(f)
    assert len(reads) == 2 and not list(cache.glob("*.json"))


@pytest.mark.parametrize("broken", ["a file", "corrupt entries"])
def test_a_cache_that_cannot_be_used_still_gives_the_digest(tmp_path, monkeypatch, reads, broken):
    monkeypatch.setattr(digest_cache, "RACY_S", 0.0)
    f = tmp_path / "w.bin"
    f.write_bytes(os.urandom(10_000))
    if broken == "a file":  # unwritable: its folder cannot be made
        (tmp_path / "blocked").write_text("not a folder")
        monkeypatch.setenv("MEMAUDIT_CACHE_DIR", str(tmp_path / "blocked"))
    else:
        file_digest(f)
        for entry in (tmp_path / "cache" / "digests").glob("*.json"):
            entry.write_text('{"v": 1, "path": ' + json.dumps(os.path.realpath(f)) + ', "stat": "x", "digest": 3}')
        digest_cache._MEMO.clear()
    assert file_digest(f) == file_digest(f) == _sha(f)
    assert len(reads) == (1 if broken == "a file" else 2)  # hashed once more at most, then remembered in memory


def test_no_home_and_no_cache_folder_still_gives_the_digest(tmp_path, monkeypatch):
    for var in ("MEMAUDIT_CACHE_DIR", "MEMAUDIT_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)

    def no_home(cls: type) -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", classmethod(no_home))
    assert digest_cache.cache_dir() is None
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    assert file_digest(f) == _sha(f)


def test_the_cache_folder(tmp_path, monkeypatch):
    assert digest_cache.cache_dir() == tmp_path / "cache" / "digests"
    monkeypatch.delenv("MEMAUDIT_CACHE_DIR")
    monkeypatch.delenv("MEMAUDIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert digest_cache.cache_dir() == tmp_path / "xdg" / "memaudit" / "digests"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert digest_cache.cache_dir() == Path.home() / ".cache" / "memaudit" / "digests"


# ---------------------------------------------------------------- a run that measured nothing binds nothing


def test_a_folder_whose_first_run_failed_is_reused_by_the_corrected_command(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(SHIPPED, model)
    members, nonmembers = _texts(tmp_path)
    out = tmp_path / "run"
    assert _mia(model, members, nonmembers, out, "--model-args", "foo=bar") != 0  # fails at load
    assert _mia(model, members, nonmembers, out) == 0  # the corrected command, same folder
    good = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(good[:1000])  # a corrupt (truncated) weights file
    out2 = tmp_path / "run2"
    assert _mia(model, members, nonmembers, out2) != 0
    (model / "model.safetensors").write_bytes(good)  # restored
    assert _mia(model, members, nonmembers, out2) == 0
    capsys.readouterr()
    assert _mia(model, nonmembers, members, out2) == 2  # a folder with results refuses other inputs, in one line
    assert "holds results for other inputs" in _error_line(capsys)


def test_a_run_folder_binds_its_identity_with_its_first_record(tmp_path):
    from auditor.errors import RunDirError
    from auditor.store.runs import Record, RunDir

    first = RunDir(tmp_path / "run", {"model": "a"}, identity={"checkpoint.model.fingerprint": "sha256:1"})
    first.close()  # stopped before measuring: the folder binds nothing
    second = RunDir(tmp_path / "run", {"model": "a"}, identity={"checkpoint.model.fingerprint": "sha256:2"})
    assert not second.resumed
    second.write("u1", [Record("mia", "loss", "auc", 0.5)])
    second.close()
    with pytest.raises(RunDirError, match="checkpoint.model.fingerprint: content changed"):
        RunDir(tmp_path / "run", {"model": "a"}, identity={"checkpoint.model.fingerprint": "sha256:3"})
    again = RunDir(tmp_path / "run", {"model": "a"}, identity={"checkpoint.model.fingerprint": "sha256:2"})
    assert again.resumed and again.done("u1")
    again.close()


def test_an_in_memory_models_fingerprint_sees_a_change_in_the_middle_of_a_tensor() -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from auditor.models.load import weights_fingerprint

    cfg = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                      num_key_value_heads=4, vocab_size=300)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    before = weights_fingerprint(model)
    weight = dict(model.named_parameters())["model.layers.0.mlp.up_proj.weight"]
    with torch.no_grad():  # far from the first and last 256 values an earlier version sampled
        weight.view(-1)[weight.numel() // 2] += 1e-3
    assert weights_fingerprint(model) != before
    assert weights_fingerprint(model.to(torch.bfloat16)).startswith("weights-sha256:")
