"""The lab presets: world sizes and training settings."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import ConfigError
from auditor.lab.train import TrainSpec
from auditor.lab.world import WorldSpec


@dataclass(frozen=True)
class LabPreset:
    name: str
    world: WorldSpec
    train: TrainSpec


PRESETS: dict[str, LabPreset] = {
    # Built by the test suite once per run: must train in well under 2 minutes on 2 CPU cores.
    "micro": LabPreset(
        "micro",
        WorldSpec(
            n_entities=12,
            value_pool=8,
            fact_repeats=60,
            n_members=48,
            n_nonmembers=48,
            member_repeats=12,
            canary_levels=(1, 4, 16, 48),
            canaries_per_level=2,
            secret_digits=4,
            n_open_book_train=6000,
            n_override_train=1000,
            n_icl_train=15000,
            icl_shots=8,
            n_eval=200,
            warmup_frac=0.0,
            n_copy_train=8000,
        ),
        TrainSpec(
            vocab_size=600,
            hidden_size=96,
            layers=3,
            heads=4,
            intermediate_size=256,
            batch_size=32,
            epochs=1,
            lr=3e-3,
            pack_len=128,
        ),
    ),
    # The embedded default, shipped in the repo (auditor/lab/standard/).
    "standard": LabPreset(
        "standard",
        WorldSpec(
            n_entities=60,
            value_pool=24,
            fact_repeats=500,
            n_members=300,
            n_nonmembers=300,
            member_repeats=24,
            canary_levels=(1, 2, 4, 8, 16, 32, 64, 128),
            canaries_per_level=8,
            secret_digits=4,
            n_open_book_train=70000,
            n_override_train=40000,
            n_icl_train=60000,
            icl_shots=8,
            n_eval=200,
            warmup_frac=0.0,
            n_copy_train=60000,
        ),
        TrainSpec(
            vocab_size=2048,
            hidden_size=192,
            layers=4,
            heads=6,
            intermediate_size=512,
            batch_size=48,
            epochs=1,
            lr=2e-3,
            pack_len=256,
        ),
    ),
}


def get_preset(name: str) -> LabPreset:
    if name not in PRESETS:
        raise ConfigError(f"unknown lab preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]
