from __future__ import annotations

import pytest

from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.pipeline.sweep import SweepConfig


def _write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_yaml_and_overrides_build_the_same_config(tmp_path):
    p = _write(tmp_path, "model: lab\nlab: L\nmethods: [magnitude]\nsparsities: [0.0, 0.5]\nmia:\n  limit: 10\n")
    a = load_config(SweepConfig, p)
    b = load_config(
        SweepConfig, None, ["model=lab", "lab=L", "methods=[magnitude]", "sparsities=[0.0, 0.5]", "mia.limit=10"]
    )
    assert a == b and a.sparsities == (0.0, 0.5) and a.mia.limit == 10


def test_unknown_key_is_named_with_its_path(tmp_path):
    p = _write(tmp_path, "model: lab\nlab: L\nmia:\n  attack: [loss]\n")
    with pytest.raises(ConfigError, match=r"mia.attack: unknown key; valid keys: enabled, members"):
        load_config(SweepConfig, p)


def test_type_errors_and_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match="sparsities\\[1\\]: expected a number"):
        load_config(SweepConfig, None, ["model=lab", "lab=L", "sparsities=[0.1, x]"])
    with pytest.raises(ConfigError, match="model: required key is missing"):
        load_config(SweepConfig, None, ["lab=L"])


def test_exponent_without_a_dot_is_a_number():
    # YAML 1.1 (PyYAML) reads 1e-4 as the string "1e-4"; float fields accept it as the number
    from auditor.unlearning import UnlearnConfig

    assert load_config(UnlearnConfig, None, ["lr=1e-4"]).lr == pytest.approx(1e-4)
    with pytest.raises(ConfigError, match="lr: expected a number"):
        load_config(UnlearnConfig, None, ["lr=fast"])


def test_values_are_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        load_config(SweepConfig, None, ["model=lab", "lab=L", "sparsities=[0.5, 1.0]"])
    with pytest.raises(ConfigError, match="unknown pruning method"):
        load_config(SweepConfig, None, ["model=lab", "lab=L", "methods=[prune_everything]"])
    with pytest.raises(ConfigError, match="unknown family"):
        load_config(SweepConfig, None, ["model=lab", "lab=L", "families=[vibes]"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(SweepConfig, tmp_path / "none.yaml")
