"""The shipped standard lab: hashes intact, and the model meets the lab's bars (fast batched eval)."""

from __future__ import annotations

import json

import pytest

from auditor.lab.build import SHIPPED_DIR, load_lab_files, materialize_standard, verify_hashes, world_for
from auditor.lab.evaluate import check_targets, lab_figures
from auditor.models.load import ModelSpec, load_model


def test_hashes_match():
    verify_hashes(SHIPPED_DIR)


def test_shipped_data_is_regenerated_from_its_seed(tmp_path):
    """A retrain with the same seed produces the same data files (byte for byte)."""
    from auditor.lab.build import write_world_files

    world = world_for("standard", 0)
    shipped = load_lab_files(SHIPPED_DIR)
    for name, rows in world.files().items():
        assert rows == shipped[name], name
    write_world_files(world, tmp_path)
    for f in sorted(tmp_path.glob("*.jsonl")):
        assert f.read_bytes() == (SHIPPED_DIR / f.name).read_bytes(), f.name


def test_shipped_model_meets_the_bars():
    lm = load_model(ModelSpec("lab", device="cpu"))
    figs = lab_figures(lm.model, lm.tokenizer, load_lab_files(SHIPPED_DIR), batch_size=64)
    met = check_targets(figs)
    assert all(met.values()), {k: figs[k] for k, ok in met.items() if not ok}
    recorded = json.loads((SHIPPED_DIR / "lab.json").read_text())["figures"]
    for key in met:
        assert figs[key] == pytest.approx(recorded[key], abs=1e-6)


def test_materialize_checks_hashes(tmp_path):
    out = tmp_path / "lab"
    materialize_standard(out)
    (out / "facts.jsonl").write_text("{}\n")
    from auditor.errors import InputError

    with pytest.raises(InputError, match="facts.jsonl"):
        verify_hashes(out)
